//! switchyard-health
