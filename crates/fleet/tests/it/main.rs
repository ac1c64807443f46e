//! The fleet crate's integration tests: the etcd source against a real etcd.

mod etcd_source;
