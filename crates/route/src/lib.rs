//! switchyard-route
