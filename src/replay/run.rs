//! The candidate's side of a replay: a topology run detached from its sinks over recorded
//! events, its verdicts (and, with `--show-text`, its redacted texts) kept in memory.

use std::path::Path;
use std::sync::Arc;

use super::compare::Texts;
use super::recorded::VerdictSet;
use crate::config::Topology;
use crate::io::{LineReader, RawLine};
use crate::runtime::file::decode_line;
use crate::runtime::RunError;
use crate::topology::{OutputBatch, Pipeline};

/// What a replay produced.
#[derive(Debug, Default)]
pub struct Replayed {
    pub verdicts: VerdictSet,
    pub texts: Texts,
    /// Inputs read (lines or records).
    pub inputs: usize,
    /// Inputs the candidate could not decode.
    pub dead_letters: usize,
}

impl Replayed {
    /// Keeps a batch's verdicts (and redacted texts).
    pub fn absorb(&mut self, batch: &OutputBatch, show_text: bool) {
        self.dead_letters += batch.dead_letters.len();
        for verdict in &batch.verdicts {
            if let Ok(bytes) = serde_json::to_vec(verdict) {
                self.verdicts.push_json(&bytes, 0);
            }
        }
        if show_text {
            for (id, text) in &batch.redacted_texts {
                self.texts.insert(id.clone(), text.clone());
            }
        }
    }
}

/// Progress of a replay: bytes read of the input and events decided so far.
pub type OnProgress<'a> = &'a mut dyn FnMut(u64, usize);

/// Runs `topology` (its source number `route`) over a JSONL file of events, writing to none
/// of its sinks; streamed chunks are assembled as in a run and flushed at the end.
pub fn replay_file(
    topology: &Topology,
    route: usize,
    input: &Path,
    show_text: bool,
    progress: OnProgress<'_>,
) -> Result<Replayed, RunError> {
    let pipeline = Pipeline::build_detached(topology, show_text)?;
    let file = std::fs::File::open(input).map_err(|source| RunError::Io {
        what: format!("cannot open {}", input.display()),
        source,
    })?;
    let max_bytes = topology.settings.max_event_bytes;
    let batch_size = topology.settings.batch_size.max(1);
    let source_id: Arc<str> = Arc::from(topology.sources[route].id.as_ref());
    let mut lines = LineReader::new(
        std::io::BufReader::with_capacity(256 * 1024, file),
        max_bytes,
    );
    let mut out = Replayed::default();
    let mut bytes = 0u64;
    loop {
        let mut batch: Vec<RawLine> = Vec::with_capacity(batch_size);
        while batch.len() < batch_size {
            match lines.next_line() {
                Ok(Some(line)) => {
                    bytes += line.size as u64 + 1;
                    batch.push(line);
                }
                Ok(None) => break,
                Err(source) => {
                    return Err(RunError::Io {
                        what: format!("cannot read {}", input.display()),
                        source,
                    })
                }
            }
        }
        if batch.is_empty() {
            break;
        }
        out.inputs += batch.len();
        let inputs = batch
            .iter()
            .map(|line| decode_line(line, &source_id, max_bytes))
            .collect();
        let outputs = pipeline.run_batch(route, inputs);
        out.absorb(&outputs, show_text);
        progress(bytes, out.verdicts.len());
    }
    if pipeline.streams().open_streams() > 0 {
        out.absorb(&pipeline.flush_streams(route), show_text);
    }
    progress(bytes, out.verdicts.len());
    Ok(out)
}
