//! switchyard-fleet
