//! The sinks on this machine (files, standard output, audit and vault files), opened once
//! per run and shared by every source: each batch's records are written and flushed here
//! before anything is acknowledged, by the file and the Kafka runtime alike.

use std::sync::Mutex;

use crate::config::{RecordKind, Topology};
use crate::io::{open_sink, RecordSink};

use super::output::OutputBatch;
use super::sink_plan::RouteSinks;

/// A local sink that could not be opened, written or flushed.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} sink `{sink}`: {source}")]
pub struct SinkError {
    pub action: &'static str,
    pub sink: String,
    pub source: std::io::Error,
}

/// The topology's local sinks, by sink index (`None` for sinks that only produce to Kafka).
pub struct LocalSinks {
    ids: Vec<String>,
    kinds: Vec<RecordKind>,
    sinks: Vec<Option<Mutex<Box<dyn RecordSink>>>>,
}

impl LocalSinks {
    /// Opens every local sink (creating parent directories; truncating plain files unless
    /// `append`).
    pub fn open(topology: &Topology) -> Result<LocalSinks, SinkError> {
        let ids = topology.sinks.iter().map(|s| s.id.to_string()).collect();
        let kinds = topology.sinks.iter().map(|s| s.spec.records()).collect();
        let sinks = topology
            .sinks
            .iter()
            .map(|s| match s.spec.is_local() {
                false => Ok(None),
                true => open_sink(&s.spec)
                    .map(|out| Some(Mutex::new(out)))
                    .map_err(|source| SinkError {
                        action: "open",
                        sink: s.id.to_string(),
                        source,
                    }),
            })
            .collect::<Result<_, _>>()?;
        Ok(LocalSinks { ids, kinds, sinks })
    }

    /// Writes the batch's records to the route's local sinks (buffered; see
    /// [`LocalSinks::flush_route`]).
    pub fn write(&self, route: &RouteSinks, batch: &OutputBatch) -> Result<(), SinkError> {
        if route.local.is_empty() {
            return Ok(());
        }
        let (mut vault, mut dead, mut alerts, mut released) = (None, None, None, None);
        for target in &route.local {
            let records = match target.records {
                RecordKind::Verdicts => &batch.verdict_records,
                RecordKind::ShadowVerdicts => &batch.shadow_verdict_records,
                RecordKind::Enriched => &batch.enriched_records,
                RecordKind::Audit => &batch.audit_records,
                RecordKind::Vault => {
                    let lines = vault.get_or_insert_with(|| batch.vault_lines());
                    self.write_lines(target.sink, lines)?;
                    continue;
                }
                RecordKind::DeadLetters => {
                    let lines = dead.get_or_insert_with(|| batch.dead_letter_lines());
                    self.write_lines(target.sink, lines)?;
                    continue;
                }
                RecordKind::Alerts => {
                    let lines = alerts.get_or_insert_with(|| batch.monitor.lines());
                    self.write_lines(target.sink, lines)?;
                    continue;
                }
                RecordKind::Released => {
                    let lines = released.get_or_insert_with(|| batch.streams.lines());
                    self.write_lines(target.sink, lines)?;
                    continue;
                }
            };
            for lines in records.lines() {
                self.write_lines(target.sink, lines)?;
            }
        }
        Ok(())
    }

    /// Flushes the route's local sinks: what was written is on disk (audit files are also
    /// synced) before the inputs are acknowledged.
    pub fn flush_route(&self, route: &RouteSinks) -> Result<(), SinkError> {
        self.flush(route.local.iter().map(|t| t.sink))
    }

    /// Writes audit seal records to every local audit sink, and flushes them.
    pub fn write_seals(&self, lines: &[u8]) -> Result<(), SinkError> {
        let sinks: Vec<usize> = (0..self.sinks.len())
            .filter(|&s| self.kinds[s] == RecordKind::Audit && self.sinks[s].is_some())
            .collect();
        for &sink in &sinks {
            self.write_lines(sink, lines)?;
        }
        self.flush(sinks)
    }

    fn write_lines(&self, sink: usize, lines: &[u8]) -> Result<(), SinkError> {
        if lines.is_empty() {
            return Ok(());
        }
        if let Some(Some(out)) = self.sinks.get(sink) {
            let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
            out.write_lines(lines).map_err(|source| SinkError {
                action: "write",
                sink: self.ids[sink].clone(),
                source,
            })?;
        }
        Ok(())
    }

    fn flush(&self, sinks: impl IntoIterator<Item = usize>) -> Result<(), SinkError> {
        for sink in sinks {
            if let Some(Some(out)) = self.sinks.get(sink) {
                let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
                out.flush().map_err(|source| SinkError {
                    action: "flush",
                    sink: self.ids[sink].clone(),
                    source,
                })?;
            }
        }
        Ok(())
    }

    /// Flushes every sink (at the end of a run).
    pub fn flush_all(&self) -> Result<(), SinkError> {
        self.flush(0..self.sinks.len())
    }
}
