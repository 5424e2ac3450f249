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
