//! The test kit's own integration tests.

mod etcd;
mod fleet;
mod proxy;
