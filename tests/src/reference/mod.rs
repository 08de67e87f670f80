//! The reference simplexmq v3.2.0 programs (`smp-server`, `smp-agent`, `ntf-server`) as live
//! peers for the interop group (`tests/tests/interop_*.rs`).
//!
//! The group runs when `SIMPLEX_REFERENCE_DIR` names a directory holding the unpacked programs
//! (`.ci/run` always sets it). Without it each interop test prints one line saying it did not
//! run and passes; with it, a program that is missing or cannot start fails the test.

pub mod process;
pub mod smp_server;

use std::path::{Path, PathBuf};

/// The variable naming the directory of unpacked reference programs.
pub const REFERENCE_DIR_VAR: &str = "SIMPLEX_REFERENCE_DIR";

/// Where the reference programs are.
#[derive(Debug, Clone)]
pub struct Programs {
    /// The directory named by [`REFERENCE_DIR_VAR`].
    pub dir: PathBuf,
}

impl Programs {
    /// The path of one program, checked to exist.
    ///
    /// # Panics
    /// When the program is not there: the variable is set, so the group must run.
    pub fn program(&self, name: &str) -> PathBuf {
        let path = self.dir.join(name);
        #[allow(clippy::panic)]
        if !path.is_file() {
            panic!("{REFERENCE_DIR_VAR}={} has no {name}", self.dir.display());
        }
        path
    }

    /// The reference SMP server.
    pub fn smp_server(&self) -> PathBuf {
        self.program("smp-server")
    }

    /// The reference SMP agent (TCP command protocol over TLS).
    pub fn smp_agent(&self) -> PathBuf {
        self.program("smp-agent")
    }

    /// The reference notifications server.
    pub fn ntf_server(&self) -> PathBuf {
        self.program("ntf-server")
    }
}

/// The reference programs, or `None` (after printing one line naming `test`) when
/// [`REFERENCE_DIR_VAR`] is unset or empty.
///
/// # Panics
/// When the variable names something that is not a directory.
pub fn programs(test: &str) -> Option<Programs> {
    let dir = match std::env::var_os(REFERENCE_DIR_VAR) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            println!("interop test {test} did not run: {REFERENCE_DIR_VAR} is not set");
            return None;
        }
    };
    #[allow(clippy::panic)]
    if !Path::new(&dir).is_dir() {
        panic!("{REFERENCE_DIR_VAR}={} is not a directory", dir.display());
    }
    Some(Programs { dir })
}

pub mod agent;
