//! Compiling a topology: TOML text -> validated [`Topology`], every error reported at once.
//!
//! Steps: parse TOML, interpolate `${VAR}` in strings, split into nodes, parse and validate
//! each node's options, resolve the graph, then check its shape (no cycles, sinks fed,
//! one policy at most, nothing after the policy but sinks).

use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::graph::Graph;
use super::interpolate::{interpolate_value, Env, ProcessEnv};
use super::kafka::KafkaConfig;
use super::monitor::{DriftConfig, LimitsConfig};
use super::names::RecordKind;
use super::pins::{self, ModelLock, PinCheck};
use super::shadow::check_shadow;
use super::shape::check_shape;
use super::spec::{split, RawNode, Section, Settings, SinkSpec, SourceSpec, TelemetryConfig};
use super::stream::StreamConfig;
use super::topology_error::TopologyError;
use crate::diagnostics::{join, Errors};
use crate::inference::ModelFile;
use crate::model::TopologyRef;
use crate::operators::{BuildContext, BuildError, BuiltOperator, Mode, OnError, OperatorSpec};

#[derive(Debug, Clone)]
pub struct SourceNode {
    pub id: Arc<str>,
    pub spec: SourceSpec,
}

#[derive(Debug, Clone)]
pub struct OperatorNode {
    pub id: Arc<str>,
    pub inputs: Vec<String>,
    /// The parsed options.
    pub spec: OperatorSpec,
    /// The operator built from `spec` while validating (patterns compiled, files read,
    /// models loaded): each operator is built once per run.
    pub operator: BuiltOperator,
    /// What a failure of this operator does to the event.
    pub on_error: OnError,
    /// Deadline of the operator's batch-level work (model inference); past it the batch's
    /// events fail under `on_error`.
    pub timeout_ms: Option<u64>,
    /// `shadow`: its findings go only to the shadow verdict (its own `mode`, else
    /// `[settings] mode`).
    pub mode: Mode,
}

/// A topology reading stdin (source `s`) with `nodes` (operator and sink tables) and a
/// dead-letter sink on stdout: the smallest valid frame for unit tests.
#[cfg(test)]
pub(crate) fn stdin_topology(nodes: &str) -> Topology {
    let text = format!(
        "name = \"t\"\n[sources.s]\ntype = \"stdin\"\n{nodes}\n[sinks.dead]\ntype = \"stdout\"\nrecords = \"dead_letters\"\n"
    );
    Topology::from_toml(&text, &ProcessEnv).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

impl OperatorNode {
    /// The same node with other options, built anew (benchmarks that vary a topology).
    pub fn with_spec(&self, spec: OperatorSpec) -> Result<OperatorNode, BuildError> {
        let operator = spec.build(&self.id)?;
        Ok(OperatorNode {
            spec,
            operator,
            ..self.clone()
        })
    }
}

#[derive(Debug, Clone)]
pub struct SinkNode {
    pub id: Arc<str>,
    pub inputs: Vec<String>,
    pub spec: SinkSpec,
}

/// What events from one source go through and where their records go.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Route {
    /// Indices into [`Topology::operators`], in dependency order.
    pub operators: Vec<usize>,
    /// Indices into [`Topology::sinks`] receiving verdicts or enriched records.
    pub sinks: Vec<usize>,
    /// Indices into [`Topology::sinks`] receiving this source's dead letters.
    pub dead_letter_sinks: Vec<usize>,
}

/// A validated topology, ready to build.
#[derive(Debug, Clone)]
pub struct Topology {
    pub name: String,
    pub description: Option<String>,
    /// `sha256:<hex>` of the TOML text as written (before interpolation: no secrets in it).
    pub hash: String,
    pub settings: Settings,
    /// Where the operations endpoints are served, if anywhere.
    pub telemetry: Option<TelemetryConfig>,
    /// Shared Kafka settings, when the topology reads Kafka.
    pub kafka: Option<KafkaConfig>,
    /// Drift alerts, when configured.
    pub drift: Option<DriftConfig>,
    /// Per-tenant limits, when configured.
    pub limits: Option<LimitsConfig>,
    /// How streamed responses are held back and released (defaults without `[stream]`).
    pub stream: StreamConfig,
    pub sources: Vec<SourceNode>,
    /// In dependency order.
    pub operators: Vec<OperatorNode>,
    pub sinks: Vec<SinkNode>,
    pub graph: Graph,
    /// One per source, same order as `sources`.
    pub routes: Vec<Route>,
    /// Every model file its operators load, in operator order (a file may repeat).
    pub model_files: Vec<ModelFile>,
}

impl Topology {
    /// Reads and compiles a topology file, interpolating from the process environment; its
    /// model files must match the topology's pins and its lock file (`<name>.lock`), if any.
    pub fn from_file(path: &Path) -> Result<Topology, TopologyError> {
        let lock = ModelLock::read(path)?;
        Topology::compile(&read(path)?, &ProcessEnv, PinCheck::Enforce(lock.as_ref()))
    }

    /// Like [`Topology::from_file`] without checking model pins (to write them anew).
    pub fn from_file_unpinned(path: &Path) -> Result<Topology, TopologyError> {
        Topology::compile(&read(path)?, &ProcessEnv, PinCheck::Skip)
    }

    /// Compiles topology text, enforcing its own model pins.
    pub fn from_toml(text: &str, env: &dyn Env) -> Result<Topology, TopologyError> {
        Topology::compile(text, env, PinCheck::Enforce(None))
    }

    /// Compiles topology text under `pins`.
    pub fn compile(text: &str, env: &dyn Env, pins: PinCheck) -> Result<Topology, TopologyError> {
        let document: toml::Table =
            toml::from_str(text).map_err(|e| TopologyError::Syntax(e.to_string()))?;
        let mut value = toml::Value::Table(document);
        let mut errors = Errors::default();
        interpolate_value(&mut value, "", env, &mut errors);
        let toml::Value::Table(document) = value else {
            unreachable!("interpolation keeps the root a table");
        };
        let raw = split(document, &mut errors);

        let graph = Graph::build(
            raw.nodes.iter().map(|n| {
                (
                    n.id.as_str(),
                    n.section,
                    n.type_name.as_str(),
                    n.inputs.as_slice(),
                )
            }),
            &mut errors,
        );

        let mut sources = Vec::new();
        let mut operators_by_node = Vec::new();
        let mut sinks_by_node = Vec::new();
        let mut model_files = Vec::new();
        for (index, node) in raw.nodes.iter().enumerate() {
            let path = node.path();
            match node.section {
                Section::Sources => {
                    if let Some(spec) =
                        SourceSpec::parse(&node.type_name, node.body.clone(), &path, &mut errors)
                    {
                        sources.push((
                            index,
                            SourceNode {
                                id: Arc::from(node.id.as_str()),
                                spec,
                            },
                        ));
                    }
                }
                Section::Operators => {
                    if let Some(operator) = parse_operator(
                        node,
                        &path,
                        pins,
                        raw.settings.mode,
                        &mut model_files,
                        &mut errors,
                    ) {
                        operators_by_node.push((index, operator));
                    }
                }
                Section::Sinks => {
                    if let Some(sink) = parse_sink(node, &path, &raw.nodes, &mut errors) {
                        sinks_by_node.push((index, sink));
                    }
                }
            }
        }
        if !raw.nodes.iter().any(|n| n.section == Section::Sources) {
            errors.push("sources", "a topology needs at least one source");
        }
        if !raw.nodes.iter().any(|n| n.section == Section::Sinks) {
            errors.push("sinks", "a topology needs at least one sink");
        }
        check_shape(
            raw.kafka.as_ref(),
            &sources
                .iter()
                .map(|(_, s)| (&*s.id, &s.spec))
                .collect::<Vec<_>>(),
            &sinks_by_node
                .iter()
                .map(|(_, s)| (&*s.id, &s.spec))
                .collect::<Vec<_>>(),
            &mut errors,
        );
        check_policy_position(&raw.nodes, &mut errors);
        check_dead_letter_sinks(&raw.nodes, &mut errors);
        check_alert_sinks(&raw, &sinks_by_node, &mut errors);
        check_single_sinks(&raw.nodes, &mut errors);
        let order = dependency_order(&graph, &mut errors);
        if !errors.is_empty() {
            let mut errors = errors.into_vec();
            errors.sort_by(|a, b| a.path.cmp(&b.path));
            return Err(TopologyError::Invalid(errors));
        }

        let (operators, sinks, routes) =
            route(&graph, &order, &sources, operators_by_node, sinks_by_node);
        let topology = Topology {
            name: raw.name,
            description: raw.description,
            hash: format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes()))),
            settings: raw.settings,
            telemetry: raw.telemetry,
            kafka: raw.kafka,
            drift: raw.drift,
            limits: raw.limits,
            stream: raw.stream,
            sources: sources.into_iter().map(|(_, s)| s).collect(),
            operators,
            sinks,
            graph,
            routes,
            model_files,
        };
        check_shadow(&topology, &mut errors);
        if !errors.is_empty() {
            let mut errors = errors.into_vec();
            errors.sort_by(|a, b| a.path.cmp(&b.path));
            return Err(TopologyError::Invalid(errors));
        }
        Ok(topology)
    }

    pub fn reference(&self) -> TopologyRef {
        TopologyRef {
            name: Arc::from(self.name.as_str()),
            hash: Arc::from(self.hash.as_str()),
        }
    }
}

fn read(path: &Path) -> Result<String, TopologyError> {
    std::fs::read_to_string(path).map_err(|source| TopologyError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// Removes `timeout_ms` from an operator's table and checks it.
fn take_timeout(body: &mut toml::Value, path: &str, errors: &mut Errors) -> Option<u64> {
    let value = body.as_table_mut().and_then(|t| t.remove("timeout_ms"))?;
    match value.as_integer() {
        Some(ms) if (1..=3_600_000).contains(&ms) => Some(ms as u64),
        _ => {
            errors.push(
                join(path, "timeout_ms"),
                format!("must be an integer within 1..=3600000, got {value}"),
            );
            None
        }
    }
}

/// Every source needs a dead-letter sink: malformed input is never dropped.
/// Parses an operator table: `on_error` and `timeout_ms`, then the type's own options, and
/// builds the operator (compiling every pattern and reading every file: a topology that
/// validates also starts, and the run uses the operator built here).
/// Parses, validates and builds an operator; its model files are checked against `pins`
/// first and never loaded when one differs.
fn parse_operator(
    node: &RawNode,
    path: &str,
    pins: PinCheck,
    default_mode: Mode,
    model_files: &mut Vec<ModelFile>,
    errors: &mut Errors,
) -> Option<OperatorNode> {
    if node.inputs.is_empty() {
        errors.push(join(path, "inputs"), "needs at least one input");
    }
    let mut body = node.body.clone();
    let on_error = OnError::take(&mut body, path, errors);
    let timeout_ms = take_timeout(&mut body, path, errors);
    let mode = Mode::take(&mut body, path, errors);
    let spec = OperatorSpec::parse(&node.type_name, body, path, errors)?;
    let files = spec.model_files(path);
    let pinned = pins::check(&files, pins, errors);
    model_files.extend(files);
    if !pinned {
        return None;
    }
    let at = BuildContext { id: &node.id, path };
    match spec.build_at(&at) {
        Ok(operator)
            if mode == Some(Mode::Shadow) && matches!(operator, BuiltOperator::Policy(_)) =>
        {
            errors.push(
                join(path, "mode"),
                "the policy has no shadow mode: the shadow verdict is this policy over the live and shadow findings",
            );
            None
        }
        Ok(operator) => Some(OperatorNode {
            id: Arc::from(node.id.as_str()),
            inputs: node.inputs.clone(),
            spec,
            operator,
            on_error,
            timeout_ms,
            mode: mode.unwrap_or(default_mode),
        }),
        Err(error) => {
            errors.push(error.path, error.message);
            None
        }
    }
}

/// Parses a sink table; a dead-letter or alerts sink takes sources (or nothing) as inputs.
fn parse_sink(
    node: &RawNode,
    path: &str,
    nodes: &[RawNode],
    errors: &mut Errors,
) -> Option<SinkNode> {
    let spec = SinkSpec::parse(&node.type_name, node.body.clone(), path, errors)?;
    let per_source = spec.records().per_source();
    if !per_source && node.inputs.is_empty() {
        errors.push(join(path, "inputs"), "needs at least one input");
    }
    if per_source {
        for (i, input) in node.inputs.iter().enumerate() {
            let is_source = nodes
                .iter()
                .any(|n| n.section == Section::Sources && &n.id == input);
            if !is_source {
                errors.push(
                    format!("{path}.inputs[{i}]"),
                    format!(
                        "a sink of {} takes sources as inputs (or none, for all)",
                        spec.records().as_str()
                    ),
                );
            }
        }
    }
    Some(SinkNode {
        id: Arc::from(node.id.as_str()),
        inputs: node.inputs.clone(),
        spec,
    })
}

/// Whether a per-source sink takes the source `id` (no inputs: every source).
fn takes_source(sink: &SinkNode, id: &str) -> bool {
    sink.inputs.is_empty() || sink.inputs.iter().any(|i| i == id)
}

/// Alerts sinks need something that raises alerts.
fn check_alert_sinks(
    raw: &super::spec::RawTopology,
    sinks: &[(usize, SinkNode)],
    errors: &mut Errors,
) {
    if raw.drift.is_some() || raw.limits.is_some() {
        return;
    }
    for (_, sink) in sinks {
        if sink.spec.records() == RecordKind::Alerts {
            errors.push(
                format!("sinks.{}.records", sink.id),
                "alerts come from `[drift]` or `[limits]`, and the topology has neither",
            );
        }
    }
}

/// At most one `audit_log` and one `vault` sink.
fn check_single_sinks(nodes: &[RawNode], errors: &mut Errors) {
    for type_name in ["audit_log", "vault"] {
        let nodes: Vec<&RawNode> = nodes
            .iter()
            .filter(|n| n.section == Section::Sinks && n.type_name == type_name)
            .collect();
        for extra in nodes.iter().skip(1) {
            errors.push(
                extra.path(),
                format!("a topology has at most one `{type_name}` sink (it may write a file and a topic)"),
            );
        }
    }
}

/// The nodes in dependency order; each cycle is an error at its first node's inputs.
fn dependency_order(graph: &Graph, errors: &mut Errors) -> Vec<usize> {
    match graph.topological_order() {
        Ok(order) => order,
        Err(cycles) => {
            for cycle in &cycles {
                let first = &graph.nodes[*cycle.iter().min().unwrap_or(&cycle[0])];
                errors.push(
                    format!("{}.{}.inputs", first.section.key(), first.id),
                    format!("cycle: {}", graph.describe_cycle(cycle)),
                );
            }
            Vec::new()
        }
    }
}

/// Operators in dependency order, the sinks, and per source the operators and sinks its
/// events reach (and the dead-letter sinks that take its malformed input).
fn route(
    graph: &Graph,
    order: &[usize],
    sources: &[(usize, SourceNode)],
    operators_by_node: Vec<(usize, OperatorNode)>,
    sinks_by_node: Vec<(usize, SinkNode)>,
) -> (Vec<OperatorNode>, Vec<SinkNode>, Vec<Route>) {
    let mut operators = Vec::new();
    let mut operator_position = vec![usize::MAX; graph.nodes.len()];
    let mut by_node: Vec<Option<OperatorNode>> = vec![None; graph.nodes.len()];
    for (i, node) in operators_by_node {
        by_node[i] = Some(node);
    }
    for &node in order {
        if let Some(operator) = by_node[node].take() {
            operator_position[node] = operators.len();
            operators.push(operator);
        }
    }
    let sink_nodes: Vec<usize> = sinks_by_node.iter().map(|(i, _)| *i).collect();
    let sinks: Vec<SinkNode> = sinks_by_node.into_iter().map(|(_, s)| s).collect();
    let routes = sources
        .iter()
        .map(|(source_node, source)| {
            let reach = graph.reachable_from(*source_node);
            Route {
                operators: order
                    .iter()
                    .filter(|n| reach[**n] && operator_position[**n] != usize::MAX)
                    .map(|n| operator_position[*n])
                    .collect(),
                sinks: sink_nodes
                    .iter()
                    .enumerate()
                    .filter(|(i, n)| {
                        let sink = &sinks[*i];
                        match sink.spec.records() {
                            RecordKind::DeadLetters => false,
                            RecordKind::Alerts | RecordKind::Released => {
                                takes_source(sink, &source.id)
                            }
                            _ => reach[**n],
                        }
                    })
                    .map(|(i, _)| i)
                    .collect(),
                dead_letter_sinks: sinks
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| {
                        s.spec.records() == RecordKind::DeadLetters && takes_source(s, &source.id)
                    })
                    .map(|(i, _)| i)
                    .collect(),
            }
        })
        .collect();
    (operators, sinks, routes)
}

fn check_dead_letter_sinks(nodes: &[super::spec::RawNode], errors: &mut Errors) {
    let dead_letter_sinks: Vec<&super::spec::RawNode> = nodes
        .iter()
        .filter(|n| {
            n.section == Section::Sinks
                && n.body.get("records").and_then(toml::Value::as_str)
                    == Some(RecordKind::DeadLetters.as_str())
        })
        .collect();
    for source in nodes.iter().filter(|n| n.section == Section::Sources) {
        let covered = dead_letter_sinks
            .iter()
            .any(|s| s.inputs.is_empty() || s.inputs.contains(&source.id));
        if !covered {
            errors.push(
                source.path(),
                "no dead-letter sink takes this source's malformed input; add a sink with records = \"dead_letters\"",
            );
        }
    }
}

/// At most one `decide`, and only sinks may follow it.
fn check_policy_position(nodes: &[super::spec::RawNode], errors: &mut Errors) {
    let policies: Vec<&super::spec::RawNode> = nodes
        .iter()
        .filter(|n| n.section == Section::Operators && n.type_name == "decide")
        .collect();
    for extra in policies.iter().skip(1) {
        errors.push(
            extra.path(),
            format!(
                "only one `decide` operator per topology; `{}` is already one",
                policies[0].id
            ),
        );
    }
    for node in nodes.iter().filter(|n| n.section == Section::Operators) {
        for (i, input) in node.inputs.iter().enumerate() {
            if policies.iter().any(|p| &p.id == input) {
                errors.push(
                    format!("{}.inputs[{i}]", node.path()),
                    format!("`{input}` is the policy (`decide`); only sinks may follow it"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct SecretEnv(&'static str);

    impl Env for SecretEnv {
        fn get(&self, name: &str) -> Option<String> {
            (name == "SECRET_PATH").then(|| self.0.to_string())
        }
    }

    #[test]
    fn the_topology_hash_is_taken_before_interpolation() {
        let text = r#"
name = "t"
[sources.s]
type = "file"
path = "${SECRET_PATH}"
[operators.policy]
type = "decide"
inputs = ["s"]
[sinks.out]
type = "stdout"
inputs = ["policy"]
[sinks.dead]
type = "stdout"
records = "dead_letters"
"#;
        let a = Topology::from_toml(text, &SecretEnv("/secret/one")).unwrap();
        let b = Topology::from_toml(text, &SecretEnv("/secret/two")).unwrap();
        assert_eq!(a.hash, b.hash, "no interpolated value enters the hash");
        assert!(matches!(&a.sources[0].spec, SourceSpec::File(f) if f.path.ends_with("one")));
    }

    #[test]
    fn audit_and_vault_sinks_are_validated_with_every_error() {
        let text = r#"
name = "t"
[sources.s]
type = "file"
path = "x.jsonl"
[operators.pii]
type = "pii_detect"
inputs = ["s"]
timeout_ms = 0
[operators.policy]
type = "decide"
inputs = ["pii"]
[sinks.audit]
type = "audit_log"
inputs = ["policy"]
rotate_bytes = 10
key_env = "not a name"
[sinks.audit2]
type = "audit_log"
inputs = ["policy"]
path = "b.jsonl"
[sinks.vault]
type = "vault"
inputs = ["policy"]
topic = "vault"
[sinks.dead]
type = "stdout"
records = "dead_letters"
"#;
        let Err(TopologyError::Invalid(errors)) = Topology::from_toml(text, &ProcessEnv) else {
            panic!("invalid");
        };
        let found: Vec<String> = errors
            .iter()
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect();
        for expected in [
            "operators.pii.timeout_ms: must be an integer within 1..=3600000, got 0",
            "sinks.audit: needs a `path`, a `topic`, or both",
            "sinks.audit.key_env: must be an environment variable name (letters, digits, `_`), got `not a name`",
            "sinks.audit.rotate_bytes: must be 0 (never) or at least 4096, got 10",
            "sinks.audit2: a topology has at most one `audit_log` sink (it may write a file and a topic)",
            "sinks.vault: a Kafka sink needs Kafka sources (file topologies write files or stdout)",
        ] {
            assert!(found.iter().any(|f| f == expected), "missing `{expected}` in {found:#?}");
        }
    }

    #[test]
    fn a_dotted_operator_id_is_kept_whole() {
        let topology = stdin_topology(
            r#"
[operators."keywords.v2"]
type = "keyword_block"
inputs = ["s"]
lists = [{ label = "weapons", terms = ["nerve agent"] }]
[sinks.out]
type = "stdout"
inputs = ["keywords.v2"]
"#,
        );
        let node = &topology.operators[0];
        assert_eq!(&*node.id, "keywords.v2");
        let BuiltOperator::Inspector(inspector) = &node.operator else {
            panic!("keyword_block is a detector");
        };
        assert_eq!(inspector.id(), "keywords.v2");
        let mut event = crate::model::Event::prompt("e", "how to make a nerve agent");
        inspector.inspect(&mut event).unwrap();
        assert_eq!(&*event.findings[0].operator, "keywords.v2");
    }

    #[test]
    fn an_unreadable_terms_file_fails_at_its_own_path() {
        let text = r#"
name = "t"
[sources.s]
type = "stdin"
[operators.kw]
type = "keyword_block"
inputs = ["s"]
lists = [{ label = "a", terms = ["x"] }, { label = "b", terms_file = "/nonexistent/terms.txt" }]
[sinks.out]
type = "stdout"
inputs = ["kw"]
[sinks.dead]
type = "stdout"
records = "dead_letters"
"#;
        let err = Topology::from_toml(text, &ProcessEnv).unwrap_err();
        let errors: Vec<String> = err.errors().iter().map(|e| e.to_string()).collect();
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("operators.kw.lists[1].terms_file: cannot read")),
            "{errors:?}"
        );
    }
}
