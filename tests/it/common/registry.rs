//! Apicurio Registry for the Avro tests (Confluent-compatible API under `/apis/ccompat/v7`),
//! started by `scripts/kafka/registry.sh` on a free local port with its storage on disk, so a
//! restart keeps every schema id. Stopped by pid when the handle drops, and by the script's
//! watchdog when the test process ends.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

fn script() -> PathBuf {
    super::repo().join("scripts/kafka/registry.sh")
}

pub struct Registry {
    dir: PathBuf,
    /// The Confluent-compatible base URL.
    pub url: String,
}

impl Registry {
    pub fn start() -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("railyard-registry-")
            .tempdir()
            .expect("registry dir")
            .keep();
        let started = Instant::now();
        let out = Command::new("bash")
            .arg(script())
            .arg("start")
            .arg(&dir)
            .args(["--watch", &std::process::id().to_string()])
            .output()
            .expect("bash runs scripts/kafka/registry.sh");
        assert!(
            out.status.success(),
            "the registry did not start:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
        eprintln!(
            "registry: {url} ready in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Registry { dir, url }
    }

    fn script(&self, args: &[&str]) {
        let out = Command::new("bash")
            .arg(script())
            .arg(args[0])
            .arg(&self.dir)
            .args(&args[1..])
            .output()
            .expect("bash runs scripts/kafka/registry.sh");
        assert!(
            out.status.success(),
            "registry.sh {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Kills the registry process (an outage).
    pub fn kill(&self) {
        self.script(&["stop", "--kill"]);
    }

    /// Starts it again on the same port and storage; returns once it answers.
    pub fn restart(&self) {
        self.script(&["restart"]);
    }

    /// Subjects registered, from the API.
    pub fn subjects(&self) -> Vec<String> {
        let body = super::http::get(&format!("{}/subjects", self.url))
            .expect("registry answers")
            .1;
        serde_json::from_str(&body).expect("a JSON list of subjects")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(&self.dir)
            .arg("--kill")
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
