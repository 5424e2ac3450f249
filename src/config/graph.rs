//! The topology DAG: name resolution, cycle detection, topological order, reachability, DOT.

use std::collections::HashMap;
use std::fmt::Write;

use super::spec::Section;
use crate::diagnostics::Errors;

/// A node of the graph: id, section, and the indices of its inputs.
#[derive(Debug, Clone)]
pub struct GraphNode {
    pub id: String,
    pub section: Section,
    pub type_name: String,
    pub inputs: Vec<usize>,
}

/// Nodes and edges of a topology, with every reference resolved.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub nodes: Vec<GraphNode>,
    outputs: Vec<Vec<usize>>,
}

impl Graph {
    /// Resolves `inputs` by id and checks the edges; records every problem found.
    pub fn build<'a>(
        declared: impl IntoIterator<Item = (&'a str, Section, &'a str, &'a [String])>,
        errors: &mut Errors,
    ) -> Graph {
        let declared: Vec<_> = declared.into_iter().collect();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, (id, section, _, _)) in declared.iter().enumerate() {
            if let Some(first) = index.insert(id, i) {
                errors.push(
                    format!("{}.{id}", section.key()),
                    format!(
                        "duplicate id: `{id}` is also declared in {}",
                        declared[first].1.key()
                    ),
                );
            }
        }
        let mut nodes = Vec::with_capacity(declared.len());
        for (id, section, type_name, inputs) in &declared {
            let path = format!("{}.{id}", section.key());
            let mut resolved = Vec::new();
            if *section == Section::Sources && !inputs.is_empty() {
                errors.push(format!("{path}.inputs"), "sources take no inputs");
            }
            for (i, input) in inputs.iter().enumerate() {
                let at = format!("{path}.inputs[{i}]");
                match index.get(input.as_str()) {
                    None => errors.push(at, format!("unknown input `{input}`")),
                    Some(&j) if declared[j].1 == Section::Sinks => errors.push(
                        at,
                        format!("`{input}` is a sink; sinks cannot feed other nodes"),
                    ),
                    Some(&j) if resolved.contains(&j) => {
                        errors.push(at, format!("input `{input}` is listed twice"))
                    }
                    Some(&j) => resolved.push(j),
                }
            }
            nodes.push(GraphNode {
                id: id.to_string(),
                section: *section,
                type_name: type_name.to_string(),
                inputs: resolved,
            });
        }
        let mut outputs = vec![Vec::new(); nodes.len()];
        for (i, node) in nodes.iter().enumerate() {
            for &input in &node.inputs {
                outputs[input].push(i);
            }
        }
        Graph { nodes, outputs }
    }

    /// Nodes in dependency order (inputs first), ties broken by declaration order. On a cycle,
    /// returns the nodes of each cycle found.
    pub fn topological_order(&self) -> Result<Vec<usize>, Vec<Vec<usize>>> {
        let mut indegree: Vec<usize> = self.nodes.iter().map(|n| n.inputs.len()).collect();
        let mut ready: std::collections::BTreeSet<usize> = (0..self.nodes.len())
            .filter(|&i| indegree[i] == 0)
            .collect();
        let mut order = Vec::with_capacity(self.nodes.len());
        while let Some(next) = ready.pop_first() {
            order.push(next);
            for &out in &self.outputs[next] {
                indegree[out] -= 1;
                if indegree[out] == 0 {
                    ready.insert(out);
                }
            }
        }
        if order.len() == self.nodes.len() {
            return Ok(order);
        }
        Err(self.cycles(&indegree))
    }

    /// Finds one cycle per strongly connected leftover component (nodes with indegree left).
    fn cycles(&self, indegree: &[usize]) -> Vec<Vec<usize>> {
        let mut cycles = Vec::new();
        let mut covered = vec![false; self.nodes.len()];
        for start in 0..self.nodes.len() {
            if indegree[start] == 0 || covered[start] {
                continue;
            }
            // Walk backwards along inputs that are still blocked until a node repeats.
            let mut path = vec![start];
            let mut seen_at: HashMap<usize, usize> = HashMap::from([(start, 0)]);
            let mut current = start;
            while let Some(&prev) = self.nodes[current]
                .inputs
                .iter()
                .find(|&&i| indegree[i] > 0)
            {
                if let Some(&pos) = seen_at.get(&prev) {
                    let mut cycle: Vec<usize> = path[pos..].to_vec();
                    cycle.reverse();
                    for &n in &cycle {
                        covered[n] = true;
                    }
                    if !cycles.iter().any(|c: &Vec<usize>| same_cycle(c, &cycle)) {
                        cycles.push(cycle);
                    }
                    break;
                }
                seen_at.insert(prev, path.len());
                path.push(prev);
                current = prev;
            }
            covered[start] = true;
        }
        cycles
    }

    /// Whether each node can be reached from `from` (including `from` itself).
    pub fn reachable_from(&self, from: usize) -> Vec<bool> {
        let mut seen = vec![false; self.nodes.len()];
        let mut stack = vec![from];
        while let Some(n) = stack.pop() {
            if !std::mem::replace(&mut seen[n], true) {
                stack.extend(self.outputs[n].iter().copied());
            }
        }
        seen
    }

    /// `a -> b -> a`, starting from the node declared first.
    pub fn describe_cycle(&self, cycle: &[usize]) -> String {
        let first = cycle
            .iter()
            .enumerate()
            .min_by_key(|(_, n)| **n)
            .map(|(i, _)| i)
            .unwrap_or(0);
        let mut names: Vec<&str> = cycle[first..]
            .iter()
            .chain(&cycle[..first])
            .map(|&i| self.nodes[i].id.as_str())
            .collect();
        names.push(names[0]);
        names.join(" -> ")
    }

    /// Graphviz DOT: sources as boxes, operators as ellipses, sinks as folders.
    pub fn to_dot(&self, name: &str) -> String {
        let mut dot = String::new();
        let _ = writeln!(dot, "digraph {} {{", quote(name));
        let _ = writeln!(dot, "  rankdir=LR;");
        for node in &self.nodes {
            let shape = match node.section {
                Section::Sources => "box",
                Section::Operators => "ellipse",
                Section::Sinks => "folder",
            };
            let label = format!("{}\\n({})", node.id, node.type_name);
            let _ = writeln!(
                dot,
                "  {} [shape={shape}, label={}];",
                quote(&node.id),
                quote(&label)
            );
        }
        for node in &self.nodes {
            for &input in &node.inputs {
                let _ = writeln!(
                    dot,
                    "  {} -> {};",
                    quote(&self.nodes[input].id),
                    quote(&node.id)
                );
            }
        }
        dot.push_str("}\n");
        dot
    }
}

fn same_cycle(a: &[usize], b: &[usize]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(nodes: &[(&str, Section, &[&str])]) -> (Graph, Errors) {
        let owned: Vec<(String, Section, Vec<String>)> = nodes
            .iter()
            .map(|(id, s, inputs)| {
                (
                    id.to_string(),
                    *s,
                    inputs.iter().map(|i| i.to_string()).collect(),
                )
            })
            .collect();
        let mut errors = Errors::default();
        let g = Graph::build(
            owned
                .iter()
                .map(|(id, s, inputs)| (id.as_str(), *s, "t", inputs.as_slice())),
            &mut errors,
        );
        (g, errors)
    }

    #[test]
    fn orders_inputs_before_their_consumers() {
        use Section::*;
        let (g, errors) = graph(&[
            ("out", Sinks, &["policy"]),
            ("policy", Operators, &["pii", "secrets"]),
            ("secrets", Operators, &["in"]),
            ("pii", Operators, &["in"]),
            ("in", Sources, &[]),
        ]);
        assert!(errors.is_empty());
        let order: Vec<&str> = g
            .topological_order()
            .unwrap()
            .into_iter()
            .map(|i| g.nodes[i].id.as_str())
            .collect();
        assert_eq!(order, ["in", "secrets", "pii", "policy", "out"]);
    }

    #[test]
    fn reports_cycles_by_name() {
        use Section::*;
        let (g, _) = graph(&[
            ("in", Sources, &[]),
            ("a", Operators, &["in", "c"]),
            ("b", Operators, &["a"]),
            ("c", Operators, &["b"]),
        ]);
        let cycles = g.topological_order().unwrap_err();
        assert_eq!(cycles.len(), 1);
        let text = g.describe_cycle(&cycles[0]);
        assert!(
            text.contains("a") && text.contains("b") && text.contains("c"),
            "{text}"
        );
    }

    #[test]
    fn reports_dangling_and_sink_inputs() {
        use Section::*;
        let (_, errors) = graph(&[
            ("in", Sources, &[]),
            ("a", Operators, &["inn"]),
            ("out", Sinks, &["a"]),
            ("b", Operators, &["out"]),
        ]);
        let messages: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(messages[0].starts_with("operators.a.inputs[0]: unknown input `inn`"));
        assert!(messages[1].contains("is a sink"));
    }

    #[test]
    fn dot_output_names_every_edge() {
        use Section::*;
        let (g, _) = graph(&[("in", Sources, &[]), ("a", Operators, &["in"])]);
        let dot = g.to_dot("demo");
        assert!(dot.starts_with("digraph \"demo\""));
        assert!(dot.contains("\"in\" -> \"a\";"));
    }
}
