//! switchyard-probe
