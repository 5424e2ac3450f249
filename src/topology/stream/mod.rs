//! Streamed responses (`response_chunk` events): chunks are put in order per stream, each
//! new piece is scanned with a bounded carried-over context (never the whole text again),
//! and only a prefix proven safe is released, redacted, as `released` records; a tail at
//! least as long as the longest multi-word value the detectors match is held back, and the
//! cut never falls inside a word, a grouped number, an open quote or key block, or a span.
//! A block stops the stream with one `stream_blocked` record. When the last chunk arrives
//! (or a timeout flushes it), the whole response gets a normal verdict, computed like a
//! one-shot scan of the concatenated text.

pub mod boundary;
pub mod record;
pub mod table;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::config::{StreamConfig, StreamScan};
use crate::model::{Action, Event, Finding, Span};

use super::redact::{self, PlaceholderRegistry};
use record::{ReleasedRecord, StreamBlockedRecord};
pub use table::FlushReason;
use table::{Accepted, OpenStream, StreamTable};

/// The hold-back without a `hold_back_chars`: at least this, or the longest keyword + 1.
pub const DEFAULT_HOLD_BACK_CHARS: usize = 64;

/// One record for a `released` sink.
#[derive(Debug, Clone)]
pub struct StreamRecord {
    /// The batch position (an input, or a flush after the inputs) it belongs to.
    pub at: usize,
    /// The stream id: the Kafka key, so a stream's records stay in order.
    pub key: Arc<str>,
    pub record: Vec<u8>,
}

/// What a batch did to streams.
#[derive(Debug, Clone, Default)]
pub struct StreamOutputs {
    /// In batch order.
    pub records: Vec<StreamRecord>,
    /// Chunk inputs an open stream holds (on Kafka their offsets stay uncommitted until the
    /// stream closes), with the stream.
    pub held: Vec<(usize, Arc<str>)>,
    /// Streams closed in the batch, with the position whose outputs close them.
    pub closed: Vec<(usize, Arc<str>)>,
    /// Characters released, and streams blocked, in the batch.
    pub released_chars: u64,
    pub blocked: u64,
}

impl StreamOutputs {
    /// The records at batch position `at`.
    pub fn records_at(&self, at: usize) -> impl Iterator<Item = &StreamRecord> {
        let from = self.records.partition_point(|r| r.at < at);
        self.records[from..].iter().take_while(move |r| r.at == at)
    }

    pub fn lines(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for r in &self.records {
            out.extend_from_slice(&r.record);
            out.push(b'\n');
        }
        out
    }
}

/// A stream's text due for a scan: the window (context, then unreleased text) as an event.
pub struct Pending {
    pub stream_id: Arc<str>,
    /// Batch position its outputs belong to.
    pub at: usize,
    pub flush: Option<FlushReason>,
    /// Byte offset of the window in the stream's text.
    window_start: usize,
    /// Where the unreleased text begins in the window.
    floor: usize,
    pub event: Event,
}

/// A stream that ended in this batch: its whole text, for the response's verdict.
pub struct Ended {
    pub at: usize,
    pub event: Event,
}

/// The stream stage of a pipeline.
pub struct Streams {
    config: StreamConfig,
    hold_back: usize,
    /// Operators whose findings compose over the released pieces (their final findings
    /// come from the pieces; the others scan the whole response at the end).
    incremental: Vec<Arc<str>>,
    table: Mutex<StreamTable>,
}

impl Streams {
    /// `longest` is the longest multi-word value an operator of the topology matches.
    pub fn new(config: &StreamConfig, longest: usize, incremental: Vec<Arc<str>>) -> Streams {
        Streams {
            incremental,
            hold_back: config
                .hold_back_chars
                .unwrap_or(DEFAULT_HOLD_BACK_CHARS.max(longest + 1)),
            config: config.clone(),
            table: Mutex::new(StreamTable::new(config.remember_closed)),
        }
    }

    pub fn hold_back_chars(&self) -> usize {
        self.hold_back
    }

    fn table(&self) -> std::sync::MutexGuard<'_, StreamTable> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn open_streams(&self) -> usize {
        self.table().len()
    }

    /// Takes a batch's chunk events `(position, event)` of source `route`; returns one
    /// window per stream that got new text.
    pub fn accept(
        &self,
        route: usize,
        chunks: Vec<(usize, Event)>,
        out: &mut StreamOutputs,
    ) -> Vec<Pending> {
        let now = Instant::now();
        let mut table = self.table();
        let mut touched: Vec<Arc<str>> = Vec::new();
        let mut latest: HashMap<Arc<str>, usize> = HashMap::new();
        for (at, event) in chunks {
            let id = event.chunk.as_ref().expect("chunk").stream_id.clone();
            match table.accept(route, event, now) {
                Accepted::Appended => {
                    out.held.push((at, id.clone()));
                    if latest.insert(id.clone(), at).is_none() {
                        touched.push(id);
                    }
                }
                Accepted::Parked => out.held.push((at, id)),
                Accepted::Duplicate => {}
            }
        }
        touched
            .into_iter()
            .filter_map(|id| {
                let stream = table.get(&id)?;
                Some(self.window(&id, stream, latest[&id], None))
            })
            .collect()
    }

    /// Streams past a timeout or the capacity (every open one of `route` at the end of the
    /// input), as windows at positions `first_at`, `first_at + 1`, ...
    pub fn due(&self, route: usize, first_at: usize, end_of_input: bool) -> Vec<Pending> {
        let table = self.table();
        let due: Vec<(Arc<str>, FlushReason)> = if end_of_input {
            table
                .ids()
                .into_iter()
                .map(|id| (id, FlushReason::EndOfInput))
                .collect()
        } else {
            table.due(
                Instant::now(),
                self.config.idle_timeout_ms,
                self.config.max_age_ms,
                self.config.max_streams,
            )
        };
        due.into_iter()
            .filter_map(|(id, reason)| {
                let stream = table.get(&id).filter(|s| s.route == route)?;
                Some((id, stream, reason))
            })
            .enumerate()
            .map(|(i, (id, stream, reason))| self.window(&id, stream, first_at + i, Some(reason)))
            .collect()
    }

    fn window(
        &self,
        id: &Arc<str>,
        stream: &OpenStream,
        at: usize,
        flush: Option<FlushReason>,
    ) -> Pending {
        let window_start = match self.config.scan {
            StreamScan::Incremental => {
                context_start(&stream.text, stream.released, self.config.context_chars)
            }
            StreamScan::PerChunk => stream.released,
            StreamScan::Rescan => 0,
        };
        let mut event = stream.template.clone();
        event.id = id.clone();
        event.chunk = None;
        event.text = Arc::from(&stream.text[window_start..]);
        event.received_at = Instant::now();
        Pending {
            stream_id: id.clone(),
            at,
            flush,
            window_start,
            floor: stream.released - window_start,
            event,
        }
    }

    /// Releases what each scanned window proves safe (the scanned event after the policy,
    /// its action, and whether an operator failed so that the event could not be checked);
    /// returns the streams that ended.
    pub fn release(
        &self,
        scanned: Vec<(Pending, Action, bool)>,
        registry: &PlaceholderRegistry,
        out: &mut StreamOutputs,
    ) -> Vec<Ended> {
        let mut table = self.table();
        let mut ended = Vec::new();
        for (pending, action, failed) in scanned {
            let Some(stream) = table.get_mut(&pending.stream_id) else {
                continue;
            };
            let window = &pending.event;
            if failed || action == Action::Block {
                let mut record = StreamBlockedRecord::new(
                    &pending.stream_id,
                    stream.last_seq(),
                    stream.released_chars,
                );
                for f in window.findings.iter().filter(|f| f.action >= Action::Flag) {
                    if !record.categories.contains(&f.category) {
                        record.categories.push(f.category);
                    }
                    if !record.labels.contains(&f.label) {
                        record.labels.push(f.label.clone());
                    }
                }
                out.records.push(StreamRecord {
                    at: pending.at,
                    key: pending.stream_id.clone(),
                    record: serde_json::to_vec(&record).expect("records serialize"),
                });
                out.blocked += 1;
                let found = self.absolute(
                    window,
                    pending.window_start,
                    pending.floor,
                    window.text.len(),
                );
                stream.findings.extend(found);
                let stream = table.close(&pending.stream_id).expect("open");
                out.closed.push((pending.at, pending.stream_id.clone()));
                ended.push(Ended {
                    at: pending.at,
                    event: whole(&pending.stream_id, stream),
                });
                continue;
            }
            let ends = stream.finished || pending.flush.is_some();
            let len = window.text.len();
            let cut = if ends || self.config.scan == StreamScan::PerChunk {
                len
            } else {
                let spans: Vec<Span> = window
                    .findings
                    .iter()
                    .flat_map(|f| f.spans.iter().copied())
                    .collect();
                let candidate = boundary::hold_back_from(&window.text, self.hold_back);
                boundary::safe_cut(&window.text, pending.floor, candidate, &spans)
            };
            if cut > pending.floor {
                let segment = segment_event(window, pending.floor, cut);
                let text = if redact::needs_rewrite(&segment) {
                    redact::apply(&segment, &redact::plan(&segment, registry))
                } else {
                    segment.text.to_string()
                };
                let mut record = ReleasedRecord::new(
                    &pending.stream_id,
                    stream.seq_through(pending.window_start + cut),
                    stream.released_chars,
                    &text,
                );
                record.action = segment
                    .findings
                    .iter()
                    .map(|f| f.action)
                    .max()
                    .unwrap_or(Action::Allow);
                record.flushed = pending.flush.map(FlushReason::as_str);
                out.records.push(StreamRecord {
                    at: pending.at,
                    key: pending.stream_id.clone(),
                    record: serde_json::to_vec(&record).expect("records serialize"),
                });
                let found = self.absolute(window, pending.window_start, pending.floor, cut);
                stream.findings.extend(found);
                let chars = text.chars().count();
                out.released_chars += chars as u64;
                stream.released = pending.window_start + cut;
                stream.released_chars += chars;
            }
            if ends {
                let stream = table.close(&pending.stream_id).expect("open");
                out.closed.push((pending.at, pending.stream_id.clone()));
                ended.push(Ended {
                    at: pending.at,
                    event: whole(&pending.stream_id, stream),
                });
            }
        }
        ended
    }

    /// The incremental operators' findings with spans in `[floor, cut)` of a window, with
    /// spans in the stream's text.
    fn absolute(
        &self,
        window: &Event,
        window_start: usize,
        floor: usize,
        cut: usize,
    ) -> Vec<Finding> {
        window
            .findings
            .iter()
            .filter(|f| self.incremental.contains(&f.operator))
            .filter_map(|f| {
                let spans: Vec<Span> = f
                    .spans
                    .iter()
                    .filter(|s| s.start >= floor && s.start < cut)
                    .map(|s| Span::new(window_start + s.start, window_start + s.end))
                    .collect();
                (!spans.is_empty()).then(|| Finding { spans, ..f.clone() })
            })
            .collect()
    }
}

/// Where the scan window starts: `context` characters before `released`, moved back to
/// the start of a word (within 64 more bytes).
fn context_start(text: &str, released: usize, context: usize) -> usize {
    let target = boundary::hold_back_from(&text[..released], context);
    let reach = target.saturating_sub(64);
    let mut at = target;
    while at > reach && at > 0 {
        let previous = text[..at].chars().next_back().expect("at > 0");
        if previous.is_whitespace() {
            return at;
        }
        at -= previous.len_utf8();
    }
    if at == 0 {
        0
    } else {
        target
    }
}

/// The released piece `[floor, cut)` of a window as an event of its own, with the
/// findings' spans inside it (clipped), numbered in the stream's conversation.
fn segment_event(window: &Event, floor: usize, cut: usize) -> Event {
    let mut segment = window.clone();
    segment.text = Arc::from(&window.text[floor..cut]);
    if segment.conversation_id.is_none() {
        // One numbering per stream, as a one-shot scan numbers one event.
        segment.conversation_id = Some(Arc::from(format!("stream:{}", window.id)));
    }
    segment.findings = window
        .findings
        .iter()
        .filter_map(|f| {
            let spans: Vec<Span> = f
                .spans
                .iter()
                .filter(|s| s.end > floor && s.start < cut)
                .map(|s| Span::new(s.start.max(floor) - floor, s.end.min(cut) - floor))
                .collect();
            (!spans.is_empty()).then(|| Finding { spans, ..f.clone() })
        })
        .collect();
    segment
}

/// The whole response as one event, with the incremental operators' findings composed
/// from its pieces (one finding per operator and label, spans in order, the highest score
/// and action), as a one-shot scan reports them; the other operators scan it again.
fn whole(id: &Arc<str>, stream: OpenStream) -> Event {
    let mut event = stream.template;
    event.id = id.clone();
    event.chunk = None;
    event.text = Arc::from(stream.text);
    event.received_at = Instant::now();
    event.composed = true;
    let mut merged: Vec<Finding> = Vec::new();
    for finding in stream.findings {
        match merged
            .iter_mut()
            .find(|m| m.operator == finding.operator && m.label == finding.label)
        {
            Some(m) => {
                m.spans.extend(finding.spans);
                m.score = m.score.max(finding.score);
                m.action = m.action.max(finding.action);
            }
            None => merged.push(finding),
        }
    }
    for m in &mut merged {
        m.spans.sort_by_key(|s| (s.start, s.end));
        m.spans.dedup();
    }
    event.findings = merged;
    event
}
