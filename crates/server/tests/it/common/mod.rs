//! The real `switchyard` binary of this build, run through the test kit's process runner.

use std::ops::{Deref, DerefMut};
use std::process::Command;

pub use switchyard_testkit::process::{get, json_field, read_response, request};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

/// A running `switchyard` of this build.
pub struct Switchyard(switchyard_testkit::process::Switchyard);

impl Switchyard {
    /// `switchyard serve` on `config` written to a temporary folder, the admin listener on an
    /// ephemeral port.
    pub fn start(config: &str, extra_args: &[&str], env: &[(&str, &str)]) -> Self {
        Self(switchyard_testkit::process::Switchyard::start(BIN, config, extra_args, env))
    }

    /// Like [`Switchyard::start`], with extra files written beside the configuration.
    pub fn start_with_files(
        config: &str,
        files: &[(&str, &str)],
        extra_args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        Self(switchyard_testkit::process::Switchyard::start_with_files(
            BIN, config, files, extra_args, env,
        ))
    }

    /// `switchyard demo` with every listener on an ephemeral port.
    pub fn demo(extra_args: &[&str]) -> Self {
        Self(switchyard_testkit::process::Switchyard::demo(BIN, extra_args))
    }

    /// Runs a prepared command line of this binary.
    pub fn spawn(cmd: Command, dir: tempfile::TempDir) -> Self {
        Self(switchyard_testkit::process::Switchyard::spawn(cmd, dir))
    }
}

impl Deref for Switchyard {
    type Target = switchyard_testkit::process::Switchyard;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for Switchyard {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}
