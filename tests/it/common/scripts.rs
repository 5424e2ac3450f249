//! Running the project's service scripts (`scripts/kafka/broker.sh`, `registry.sh`) from tests.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

/// Runs `bash scripts/kafka/NAME COMMAND DIR ARGS...`; returns its trimmed stdout, or panics
/// with its stderr when it fails (unless `check` is false: cleanup on drop).
pub fn run<I, S>(name: &str, command: &str, dir: &Path, args: I, check: bool) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = Command::new("bash")
        .arg(super::repo().join("scripts/kafka").join(name))
        .arg(command)
        .arg(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("bash runs scripts/kafka/{name}: {e}"));
    assert!(
        !check || out.status.success(),
        "{name} {command} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The argument that makes a script's watchdog stop what it started once this test process
/// ends (a shared service's handle is never dropped).
pub fn watch_this_process() -> [String; 2] {
    ["--watch".to_string(), std::process::id().to_string()]
}
