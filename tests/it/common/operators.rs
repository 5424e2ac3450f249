//! Running one operator of a topology over texts, in process (model operator tests).

use std::sync::Arc;

use railyard::model::Event;
use railyard::operators::Inspector;

/// The sources and sinks of a one-operator topology; append `[operators.op]`.
pub const TOPOLOGY_HEAD: &str = r#"
name = "t"
[sources.in]
type = "stdin"
[sinks.out]
type = "stdout"
inputs = ["op"]
[sinks.dead]
type = "stdout"
records = "dead_letters"
"#;

/// Builds the topology's first operator and runs it over `texts` (as prompts) as one batch.
pub fn run_operator(topology: &str, texts: &[&str]) -> Vec<Event> {
    let events = texts
        .iter()
        .enumerate()
        .map(|(i, t)| Event::prompt(&i.to_string(), t))
        .collect();
    run_operator_on(topology, events)
}

/// Builds the topology's first operator and runs it over `events` as one batch.
pub fn run_operator_on(topology: &str, mut events: Vec<Event>) -> Vec<Event> {
    let topology =
        railyard::config::Topology::from_toml(topology, &railyard::config::interpolate::ProcessEnv)
            .unwrap_or_else(|e| panic!("{e}"));
    let node = &topology.operators[0];
    let railyard::operators::BuiltOperator::Inspector(inspector) = &node.operator else {
        panic!("not an inspector")
    };
    let inspector: Arc<dyn Inspector> = inspector.clone();
    inspector.prepare(&mut events);
    for event in &mut events {
        inspector.inspect(event).unwrap();
    }
    events
}

/// Runs the shipped quickstart (with its lock) writing into `dir`, after `edit` rewrote its
/// TOML; returns its verdicts.
pub fn run_quickstart_in(
    dir: &std::path::Path,
    edit: impl Fn(String) -> String,
) -> Vec<serde_json::Value> {
    use super::{binary, read_jsonl, repo, succeed};
    let text = std::fs::read_to_string(repo().join("topologies/quickstart.toml")).unwrap();
    let topology = dir.join("quickstart.toml");
    std::fs::write(
        &topology,
        edit(text.replace("out/quickstart", &dir.display().to_string())),
    )
    .unwrap();
    std::fs::copy(
        repo().join("topologies/quickstart.lock"),
        dir.join("quickstart.lock"),
    )
    .unwrap();
    let mut run = binary();
    run.args(["run", topology.to_str().unwrap()])
        .current_dir(repo());
    succeed(run);
    read_jsonl(&dir.join("verdicts.jsonl"))
}

/// `railyard validate` on a one-operator topology (TOPOLOGY_HEAD and `operator`, the
/// `[operators.op]` table's body); returns whether it passed and what it printed.
pub fn validate_operator(dir: &std::path::Path, operator: &str) -> (bool, String) {
    use super::{binary, repo};
    let topology = dir.join("validate.toml");
    std::fs::write(
        &topology,
        format!("{TOPOLOGY_HEAD}[operators.op]\n{operator}"),
    )
    .unwrap();
    let out = binary()
        .args(["validate", topology.to_str().unwrap()])
        .current_dir(repo())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}
