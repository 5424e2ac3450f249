//! A `railyard run` child process: started with a topology, stopped by signal, watched for
//! its exit and its peak memory.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::binary;

/// A running `railyard` process, killed if the test ends (or fails) before it exits.
pub struct Instance(pub Child);

impl std::ops::Deref for Instance {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Instance {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Instance {
    /// Kills the process and returns what it wrote to a piped stderr (for failure messages).
    pub fn kill_and_read_stderr(&mut self) -> String {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let mut text = String::new();
        if let Some(mut stderr) = self.0.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        }
        text
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `railyard run TOPOLOGY` (in `dir` when given).
pub fn start_in(topology: &Path, dir: Option<&Path>) -> Instance {
    let mut command = binary();
    command
        .args(["run", topology.to_str().unwrap()])
        .env("RUST_LOG", "railyard=info")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    Instance(command.spawn().expect("railyard starts"))
}

pub fn start(topology: &Path) -> Instance {
    start_in(topology, None)
}

pub fn sigterm(child: &Child) {
    signal(child, "TERM");
}

pub fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("railyard did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A field of `/proc/PID/status` in KiB (`VmRSS`, `VmHWM`), while the process lives.
pub fn memory_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Sends a signal by name (`STOP`, `CONT`, `TERM`, ...).
pub fn signal(child: &Child, name: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name}");
}
