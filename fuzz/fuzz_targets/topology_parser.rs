//! The topology loader: any text either compiles or returns every error with its path; never
//! a panic. Environment lookups are served by a fixed map.
#![no_main]

use libfuzzer_sys::fuzz_target;
use railyard::config::interpolate::Env;
use railyard::config::{Topology, TopologyError};

struct FixedEnv;

impl Env for FixedEnv {
    fn get(&self, name: &str) -> Option<String> {
        (name == "RAILYARD_OUT").then(|| "out".to_string())
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Topology::from_toml(text, &FixedEnv) {
        Ok(topology) => {
            let _ = topology.graph.to_dot(&topology.name);
        }
        Err(TopologyError::Invalid(errors)) => assert!(!errors.is_empty()),
        Err(_) => {}
    }
});
