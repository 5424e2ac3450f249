//! The processing core shared by every runtime: a batch of events in, verdicts and enriched
//! records out, in input order.
//!
//! Per route (one per source), the inspectors reachable from that source run fused: one
//! data-parallel pass over the batch (rayon), each event visiting every inspector in DAG
//! order, then the policy. Placeholder numbering then runs sequentially (so numbers follow
//! input order), and enriched texts are built in parallel again.

use std::sync::Arc;

use rayon::prelude::*;

use super::redact::{self, PlaceholderRegistry};
use crate::config::Topology;
use crate::event::Event;
use crate::operators::decide::Policy;
use crate::operators::{BuildError, BuiltOperator, Inspector};
use crate::verdict::{EnrichedRecord, TopologyRef, Verdict};

/// One event's outputs.
pub struct Processed {
    pub verdict: Verdict,
    /// Present when the caller asked for enriched records.
    pub enriched: Option<EnrichedRecord>,
}

struct RoutePlan {
    inspectors: Vec<Arc<dyn Inspector>>,
    policy: Policy,
}

/// A built topology: operators compiled, ready to process batches.
pub struct Pipeline {
    topology: TopologyRef,
    routes: Vec<RoutePlan>,
    registry: PlaceholderRegistry,
}

impl Pipeline {
    pub fn build(topology: &Topology) -> Result<Pipeline, BuildError> {
        let built: Vec<BuiltOperator> = topology
            .operators
            .iter()
            .map(|node| node.spec.build(&node.id))
            .collect::<Result<_, _>>()?;
        let routes = topology
            .routes
            .iter()
            .map(|route| RoutePlan {
                inspectors: route
                    .operators
                    .iter()
                    .filter_map(|&i| match &built[i] {
                        BuiltOperator::Inspector(inspector) => Some(inspector.clone()),
                        BuiltOperator::Policy(_) => None,
                    })
                    .collect(),
                policy: route
                    .operators
                    .iter()
                    .find_map(|&i| match &built[i] {
                        BuiltOperator::Policy(policy) => Some(policy.clone()),
                        BuiltOperator::Inspector(_) => None,
                    })
                    .unwrap_or_default(),
            })
            .collect();
        Ok(Pipeline {
            topology: topology.reference(),
            routes,
            registry: PlaceholderRegistry::new(topology.settings.max_conversations),
        })
    }

    pub fn topology(&self) -> &TopologyRef {
        &self.topology
    }

    /// Runs a batch from the source with index `route` through its operators and policy.
    pub fn process(
        &self,
        route: usize,
        mut events: Vec<Event>,
        want_enriched: bool,
    ) -> Vec<Processed> {
        let plan = &self.routes[route];
        let verdicts: Vec<Verdict> = events
            .par_iter_mut()
            .map(|event| {
                for inspector in &plan.inspectors {
                    inspector.inspect(event);
                }
                let action = plan.policy.decide(event);
                let latency_us = event.received_at.elapsed().as_micros() as u64;
                Verdict::new(event, action, &self.topology, latency_us)
            })
            .collect();
        if !want_enriched {
            return verdicts
                .into_iter()
                .map(|verdict| Processed {
                    verdict,
                    enriched: None,
                })
                .collect();
        }
        let plans: Vec<Option<redact::Plan>> = events
            .iter()
            .map(|e| redact::needs_rewrite(e).then(|| redact::plan(e, &self.registry)))
            .collect();
        events
            .par_iter()
            .zip(verdicts.into_par_iter())
            .zip(plans.into_par_iter())
            .map(|((event, verdict), plan)| {
                let text: Arc<str> = match plan {
                    Some(plan) => Arc::from(redact::apply(event, &plan)),
                    None => event.text.clone(),
                };
                let enriched = EnrichedRecord::new(event, &verdict, text);
                Processed {
                    verdict,
                    enriched: Some(enriched),
                }
            })
            .collect()
    }
}
