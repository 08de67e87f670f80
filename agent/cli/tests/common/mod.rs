//! Running the `smp-client` program in the tests: one invocation with its state directory and
//! runtime, and its `name=value` output lines.

// Helpers outside #[test] functions fail loudly, as tests should.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_smp-client");

/// One run of the program, whatever its exit status; no settings come from the environment.
pub fn run(dir: &Path, runtime: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--state-dir")
        .arg(dir)
        .args(["--runtime", runtime, "--timeout", "10"])
        .args(args)
        .env_remove("SMP_CLIENT_STATE_DIR")
        .env_remove("SMP_SERVER")
        .output()
        .unwrap()
}

/// Runs and expects success; the `name=value` lines.
pub fn ok(dir: &Path, runtime: &str, args: &[&str]) -> BTreeMap<String, String> {
    let out = run(dir, runtime, args);
    assert!(
        out.status.success(),
        "{args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    lines(&out)
}

/// The `name=value` lines of a run's output.
pub fn lines(out: &Output) -> BTreeMap<String, String> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("not name=value: {l}"));
            (k.to_string(), v.to_string())
        })
        .collect()
}
