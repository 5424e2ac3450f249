//! Apicurio Registry for the Avro tests (Confluent-compatible API under `/apis/ccompat/v7`),
//! started by `scripts/kafka/registry.sh` on a free local port with its storage on disk, so a
//! restart keeps every schema id. Stopped by pid when the handle drops, and by the script's
//! watchdog when the test process ends.

use std::path::PathBuf;
use std::time::Instant;

use super::scripts::{self, watch_this_process};

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
        let url = scripts::run("registry.sh", "start", &dir, watch_this_process(), true);
        eprintln!(
            "registry: {url} ready in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Registry { dir, url }
    }

    fn script(&self, args: &[&str]) {
        scripts::run("registry.sh", args[0], &self.dir, &args[1..], true);
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
        scripts::run("registry.sh", "stop", &self.dir, ["--kill"], false);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
