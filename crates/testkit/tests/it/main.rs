//! The test kit's own integration tests.

mod fleet;
