//! Checks of shadow mode over the routed topology: a route with shadow operators has a
//! `shadow_verdicts` sink (else their findings would go nowhere), a `shadow_verdicts` sink
//! reads a route with shadow operators, and a shadow topology (`[settings] mode = "shadow"`)
//! writes no decision (no verdict, enriched, released, audit or vault sink).

use super::compile::Topology;
use super::names::RecordKind;
use crate::diagnostics::{join, Errors};
use crate::operators::{BuiltOperator, Mode};

pub fn check_shadow(topology: &Topology, errors: &mut Errors) {
    let shadow_topology = topology.settings.mode == Mode::Shadow;
    for sink in &topology.sinks {
        let records = sink.spec.records();
        let decides = matches!(
            records,
            RecordKind::Verdicts
                | RecordKind::Enriched
                | RecordKind::Released
                | RecordKind::Audit
                | RecordKind::Vault
        );
        if shadow_topology && decides {
            errors.push(
                join(&format!("sinks.{}", sink.id), "records"),
                format!(
                    "a shadow topology ([settings] mode = \"shadow\") decides nothing: its sinks take shadow_verdicts, dead_letters or alerts, not {}",
                    records.as_str()
                ),
            );
        }
    }
    for (source, route) in topology.sources.iter().zip(&topology.routes) {
        let shadow_operators: Vec<&str> = route
            .operators
            .iter()
            .map(|&i| &topology.operators[i])
            .filter(|n| n.mode == Mode::Shadow && matches!(n.operator, BuiltOperator::Inspector(_)))
            .map(|n| &*n.id)
            .collect();
        let shadow_sinks: Vec<&str> = route
            .sinks
            .iter()
            .map(|&i| &topology.sinks[i])
            .filter(|s| s.spec.records() == RecordKind::ShadowVerdicts)
            .map(|s| &*s.id)
            .collect();
        match (shadow_operators.first(), shadow_sinks.first()) {
            (Some(operator), None) if !shadow_topology => errors.push(
                join(&format!("operators.{operator}"), "mode"),
                format!(
                    "shadow findings go only to a sink with records = \"shadow_verdicts\", and none takes source `{}`",
                    source.id
                ),
            ),
            (Some(_), None) => errors.push(
                "settings.mode",
                format!(
                    "a shadow topology needs a sink with records = \"shadow_verdicts\" for source `{}`",
                    source.id
                ),
            ),
            (None, Some(sink)) => errors.push(
                join(&format!("sinks.{sink}"), "records"),
                format!(
                    "shadow_verdicts needs an operator in mode = \"shadow\" on source `{}`; it has none",
                    source.id
                ),
            ),
            _ => {}
        }
    }
}
