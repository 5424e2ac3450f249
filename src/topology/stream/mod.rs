//! Streamed responses (`response_chunk` events): chunks are put in order per stream, each
//! new piece is scanned with a bounded carried-over context (never the whole text again),
//! and only a prefix proven safe is released, redacted, as `released` records; a tail at
//! least as long as the longest multi-word value the detectors match is held back, and the
//! cut never falls inside a word, a grouped number, an open quote or key block, or a span.
//! Model operators read each sentence once instead (`[stream] model_windows`), the sentences
//! of every stream in a batch together, and a release never passes what they have read.
//! A block stops the stream with one `stream_blocked` record. When the last chunk arrives
//! (or a timeout flushes it), the whole response gets a normal verdict, computed like a
//! one-shot scan of the concatenated text.

pub mod boundary;
pub mod record;
pub mod table;
pub mod triggers;

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::{ModelWindows, StreamConfig, StreamScan};
use crate::model::{Action, Event, Finding, Span, StreamWindow};
use crate::operators::Inspector;

use super::redact::{self, PlaceholderRegistry};
use record::{ReleasedRecord, StreamBlockedRecord};
pub use table::FlushReason;
use table::{Accepted, OpenStream, StreamTable};
use triggers::Triggers;

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
        super::output::at_position(&self.records, at, |r| r.at).iter()
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

/// A stream's text due for a scan: the window (context, then unreleased text) as an event,
/// and where it lies in the stream.
pub struct Pending {
    pub place: WindowPlace,
    pub event: Event,
}

/// Where a scanned window lies: its stream, batch position and offsets.
pub struct WindowPlace {
    pub stream_id: Arc<str>,
    /// Batch position its outputs belong to.
    pub at: usize,
    pub flush: Option<FlushReason>,
    /// A scan window, or a model operators' sentence window.
    pub kind: StreamWindow,
    /// Byte offset of the window in the stream's text.
    window_start: usize,
    /// Where the unreleased text begins in the window.
    floor: usize,
}

/// A scanned window: its place, the event after the inspectors, the policy's action, and
/// whether an operator failed so that the window could not be checked.
pub type ScannedWindow = (WindowPlace, Event, Action, bool);

/// A stream that ended in this batch: its whole text, for the response's verdict.
pub struct Ended {
    pub at: usize,
    pub event: Event,
    /// Placeholders first assigned in its released text (placeholder, value), for the vault
    /// (a stream in a conversation numbers them there as it releases).
    pub vault: Vec<(String, String)>,
}

/// The stream stage of a pipeline.
pub struct Streams {
    config: StreamConfig,
    hold_back: usize,
    /// Operators whose findings compose over the released pieces (their final findings
    /// come from the pieces; the others scan the whole response at the end).
    incremental: Vec<Arc<str>>,
    /// Operators that report nothing without a trigger: which a scan window leaves out, and
    /// which a response's verdict runs whatever its windows saw.
    triggers: Triggers,
    /// Model operators read sentence windows (the topology has one, and the scan is
    /// incremental with `model_windows = "sentences"`).
    model_sentences: bool,
    table: Mutex<StreamTable>,
    /// When open streams were last checked for timeouts.
    swept: Mutex<Instant>,
}

/// How often open streams are checked for timeouts: a tenth of the shorter timeout, within
/// 1 ms..=1 s (a flush comes at most that late; checking every stream on every batch would
/// cost a walk over all of them per batch).
fn sweep_interval(config: &StreamConfig) -> Duration {
    Duration::from_millis((config.idle_timeout_ms.min(config.max_age_ms) / 10).clamp(1, 1000))
}

impl Streams {
    /// `longest` is the longest multi-word value an operator of the topology matches;
    /// `triggered_by` the operators that report nothing without a trigger
    /// (`Inspector::trigger_chars`); `models` whether an operator reads sentence windows.
    pub fn new(
        config: &StreamConfig,
        longest: usize,
        incremental: Vec<Arc<str>>,
        triggered_by: Vec<Arc<dyn Inspector>>,
        models: bool,
    ) -> Streams {
        let hold_back = config
            .hold_back_chars
            .unwrap_or(DEFAULT_HOLD_BACK_CHARS.max(longest + 1));
        // Characters two consecutive scan windows share, at least: a trigger that long lies
        // whole in one of them.
        let overlap = match config.scan {
            StreamScan::Incremental => hold_back + config.context_chars,
            StreamScan::Rescan => usize::MAX,
            StreamScan::PerChunk => 0,
        };
        Streams {
            incremental,
            triggers: Triggers::new(triggered_by, overlap),
            model_sentences: models
                && config.scan == StreamScan::Incremental
                && config.model_windows == ModelWindows::Sentences,
            hold_back,
            config: config.clone(),
            table: Mutex::new(StreamTable::new(config.remember_closed)),
            swept: Mutex::new(Instant::now()),
        }
    }

    pub fn hold_back_chars(&self) -> usize {
        self.hold_back
    }

    /// How often a quiet input should still sweep the open streams for timeouts.
    pub fn sweep_interval(&self) -> Duration {
        sweep_interval(&self.config)
    }

    fn table(&self) -> std::sync::MutexGuard<'_, StreamTable> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn open_streams(&self) -> usize {
        self.table().len()
    }

    /// Drops open streams without a verdict (their input partition moved to another
    /// consumer, which reads them again from their first chunk); returns how many were open.
    pub fn forget(&self, ids: &[Arc<str>]) -> usize {
        let mut table = self.table();
        ids.iter().filter(|id| table.forget(id)).count()
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
        table.next_batch();
        let mut touched: Vec<Arc<str>> = Vec::new();
        out.held.reserve(chunks.len());
        for (at, event) in chunks {
            let id = match event.chunk.as_ref() {
                Some(chunk) => chunk.stream_id.clone(),
                None => continue,
            };
            match table.accept(route, event, at, now) {
                Accepted::Appended { first } => {
                    if first {
                        touched.push(id.clone());
                    }
                    out.held.push((at, id));
                }
                Accepted::Parked => out.held.push((at, id)),
                Accepted::Duplicate => {}
            }
        }
        let min_new = match self.config.scan {
            StreamScan::Incremental => self.config.min_scan_chars,
            StreamScan::PerChunk | StreamScan::Rescan => 0,
        };
        let mut windows = Vec::with_capacity(touched.len());
        for id in touched {
            let Some(stream) = table.get(&id) else {
                continue;
            };
            windows.extend(self.sentence_window(&id, stream, stream.latest_at, None, now));
            if stream.finished || stream.unscanned_chars_at_least(min_new) {
                windows.push(self.window(&id, stream, stream.latest_at, None, now));
            }
        }
        windows
    }

    /// Streams past a timeout or the capacity (every open one of `route` at the end of the
    /// input), as windows at positions `first_at`, `first_at + 1`, ...
    pub fn due(&self, route: usize, first_at: usize, end_of_input: bool) -> Vec<Pending> {
        let table = self.table();
        let now = Instant::now();
        if !end_of_input && table.len() <= self.config.max_streams {
            let mut swept = self.swept.lock().unwrap_or_else(|p| p.into_inner());
            if now.saturating_duration_since(*swept) < sweep_interval(&self.config) {
                return Vec::new();
            }
            *swept = now;
        }
        let due: Vec<(Arc<str>, FlushReason)> = if end_of_input {
            table
                .ids()
                .into_iter()
                .map(|id| (id, FlushReason::EndOfInput))
                .collect()
        } else {
            table.due(
                now,
                self.config.idle_timeout_ms,
                self.config.max_age_ms,
                self.config.max_streams,
            )
        };
        let mut windows = Vec::new();
        let flushed = due.into_iter().filter_map(|(id, reason)| {
            let stream = table.get(&id).filter(|s| s.route == route)?;
            Some((id, stream, reason))
        });
        for (i, (id, stream, reason)) in flushed.enumerate() {
            let at = first_at + i;
            windows.extend(self.sentence_window(&id, stream, at, Some(reason), now));
            windows.push(self.window(&id, stream, at, Some(reason), now));
        }
        windows
    }

    /// The model operators' next window of a stream: from what they read to the end of its
    /// last whole sentence (to its end when it ends or is flushed); `None` when they read
    /// the stream's scan windows instead, or no sentence is complete yet.
    fn sentence_window(
        &self,
        id: &Arc<str>,
        stream: &OpenStream,
        at: usize,
        flush: Option<FlushReason>,
        now: Instant,
    ) -> Option<Pending> {
        if !self.model_sentences {
            return None;
        }
        let start = stream.modelled;
        let end = if stream.finished || flush.is_some() {
            (start < stream.text.len()).then_some(stream.text.len())?
        } else {
            boundary::sentence_end(&stream.text, start, self.config.model_window_chars)?
        };
        let text = Arc::from(&stream.text[start..end]);
        let event = stream.window_event(id, text, StreamWindow::Sentences, now);
        Some(Pending {
            place: WindowPlace {
                stream_id: id.clone(),
                at,
                flush,
                kind: StreamWindow::Sentences,
                window_start: start,
                floor: 0,
            },
            event,
        })
    }

    fn window(
        &self,
        id: &Arc<str>,
        stream: &OpenStream,
        at: usize,
        flush: Option<FlushReason>,
        now: Instant,
    ) -> Pending {
        let window_start = match self.config.scan {
            StreamScan::Incremental => {
                context_start(&stream.text, stream.released, self.config.context_chars)
            }
            StreamScan::PerChunk => stream.released,
            StreamScan::Rescan => 0,
        };
        // Without sentence windows, every operator reads the scan windows.
        let kind = match self.model_sentences {
            true => StreamWindow::Patterns,
            false => StreamWindow::All,
        };
        let text = Arc::from(&stream.text[window_start..]);
        let mut event = stream.window_event(id, text, kind, now);
        event.quiet = self.triggers.quiet(stream, window_start);
        Pending {
            place: WindowPlace {
                stream_id: id.clone(),
                at,
                flush,
                kind,
                window_start,
                floor: stream.released - window_start,
            },
            event,
        }
    }

    /// Releases what each scanned window proves safe; returns the streams that ended.
    pub fn release(
        &self,
        scanned: Vec<ScannedWindow>,
        registry: &PlaceholderRegistry,
        out: &mut StreamOutputs,
    ) -> Vec<Ended> {
        let mut table = self.table();
        let mut ended = Vec::new();
        // The models' sentence windows first: a scan window releases only what they read.
        let mut scanned = scanned;
        if scanned
            .iter()
            .any(|(place, ..)| place.kind == StreamWindow::Sentences)
        {
            scanned.sort_by_key(|(place, ..)| place.kind != StreamWindow::Sentences);
        }
        for (place, mut window, action, failed) in scanned {
            let Some(stream) = table.get_mut(&place.stream_id) else {
                continue;
            };
            let len = window.text.len();
            if place.kind != StreamWindow::Sentences {
                stream.loud = self.triggers.loud(&window.triggered);
            }
            for id in std::mem::take(&mut window.triggered) {
                if !stream.triggered.contains(&id) {
                    stream.triggered.push(id);
                }
            }
            if failed || action == Action::Block {
                match place.kind {
                    // The models' findings that blocked it go into the verdict (which reads
                    // the whole text again, where a sentence's score may be diluted).
                    StreamWindow::Sentences => stream.findings.extend(
                        located(&window.findings, place.window_start)
                            .filter(|f| f.action >= Action::Flag),
                    ),
                    _ => stream.findings.extend(self.absolute(
                        &window,
                        place.window_start,
                        place.floor,
                        len,
                    )),
                }
                let record = blocked_record(&place, &window, stream);
                out.records.push(record);
                out.blocked += 1;
                ended.push(self.end(&mut table, &place, out));
                continue;
            }
            if place.kind == StreamWindow::Sentences {
                stream.modelled = place.window_start + len;
                let spanned = located(&window.findings, place.window_start);
                stream
                    .model_findings
                    .extend(spanned.filter(|f| !f.spans.is_empty()));
                continue;
            }
            stream.scanned = place.window_start + len;
            if self.model_sentences {
                let model = &stream.model_findings;
                add_model_findings(&mut window, model, place.window_start, place.floor);
            }
            let ends = stream.finished || place.flush.is_some();
            let cut = if ends || self.config.scan == StreamScan::PerChunk {
                len
            } else {
                let spans: Vec<Span> = window
                    .findings
                    .iter()
                    .flat_map(|f| f.spans.iter().copied())
                    .collect();
                let mut candidate = boundary::hold_back_from(&window.text, self.hold_back);
                if self.model_sentences {
                    let modelled = stream.modelled.saturating_sub(place.window_start);
                    candidate = candidate.min(modelled);
                }
                boundary::safe_cut(&window.text, place.floor, candidate, &spans)
            };
            if cut > place.floor {
                let (text, action) = released_text(&window, place.floor, cut, registry, stream);
                let mut record = ReleasedRecord::new(
                    &place.stream_id,
                    stream.seq_through(place.window_start + cut),
                    stream.released_chars,
                    &text,
                );
                record.action = action;
                record.flushed = place.flush.map(FlushReason::as_str);
                out.records.push(StreamRecord {
                    at: place.at,
                    key: place.stream_id.clone(),
                    record: serde_json::to_vec(&record).expect("records serialize"),
                });
                let found = self.absolute(&window, place.window_start, place.floor, cut);
                stream.findings.extend(found);
                let chars = text.chars().count();
                out.released_chars += chars as u64;
                stream.released = place.window_start + cut;
                stream.released_chars += chars;
                let released = stream.released;
                stream
                    .model_findings
                    .retain(|f| f.spans.iter().any(|s| s.start >= released));
            }
            if ends {
                ended.push(self.end(&mut table, &place, out));
            }
        }
        ended
    }

    /// Closes a stream whose outputs are at `place`; its whole text for the verdict.
    fn end(&self, table: &mut StreamTable, place: &WindowPlace, out: &mut StreamOutputs) -> Ended {
        let mut stream = table.close(&place.stream_id).expect("open");
        out.closed.push((place.at, place.stream_id.clone()));
        let vault = std::mem::take(&mut stream.vault);
        let mut event = whole(&place.stream_id, stream);
        event
            .triggered
            .extend(self.triggers.rescanned().iter().cloned());
        Ended {
            at: place.at,
            event,
            vault,
        }
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

/// The `stream_blocked` record of a stream whose window blocked (or could not be checked),
/// with the categories and labels that flagged it.
fn blocked_record(place: &WindowPlace, window: &Event, stream: &OpenStream) -> StreamRecord {
    let mut record =
        StreamBlockedRecord::new(&place.stream_id, stream.last_seq(), stream.released_chars);
    for f in window.findings.iter().filter(|f| f.action >= Action::Flag) {
        if !record.categories.contains(&f.category) {
            record.categories.push(f.category);
        }
        if !record.labels.contains(&f.label) {
            record.labels.push(f.label.clone());
        }
    }
    StreamRecord {
        at: place.at,
        key: place.stream_id.clone(),
        record: serde_json::to_vec(&record).expect("records serialize"),
    }
}

/// The findings of a window starting at byte `start`, with spans in the stream's text.
fn located(findings: &[Finding], start: usize) -> impl Iterator<Item = Finding> + '_ {
    findings.iter().map(move |f| {
        let spans = f
            .spans
            .iter()
            .map(|s| Span::new(start + s.start, start + s.end))
            .collect();
        Finding { spans, ..f.clone() }
    })
}

/// Adds to a scan window (from byte `window_start`) the sentence windows' findings in its
/// unreleased text (from `floor` in it), in window offsets; a span that overlaps one the
/// window found itself is left out, as `pii_detect` drops a model entity over a pattern match.
fn add_model_findings(window: &mut Event, model: &[Finding], window_start: usize, floor: usize) {
    let end = window_start + window.text.len();
    let own: Vec<Span> = window
        .findings
        .iter()
        .flat_map(|f| f.spans.iter().copied())
        .collect();
    for f in model {
        let spans: Vec<Span> = f
            .spans
            .iter()
            .filter(|s| s.start >= window_start + floor && s.end <= end)
            .map(|s| Span::new(s.start - window_start, s.end - window_start))
            .filter(|s| !own.iter().any(|o| o.overlaps(s)))
            .collect();
        if !spans.is_empty() {
            window.findings.push(Finding { spans, ..f.clone() });
        }
    }
}

/// Where the scan window starts: `context` characters before `released`, moved back to
/// the start of a word (within 64 more bytes).
fn context_start(text: &str, released: usize, context: usize) -> usize {
    let target = boundary::hold_back_from(&text[..released], context);
    boundary::word_start_within(text, target, 64)
}

/// The redacted text of `[floor, cut)` of a window, and the strongest action of the findings
/// in it. Without a finding there the text is released as it is; otherwise placeholders are
/// numbered in the stream's conversation, and those it assigns first are kept for the vault.
fn released_text<'w>(
    window: &'w Event,
    floor: usize,
    cut: usize,
    registry: &PlaceholderRegistry,
    stream: &mut OpenStream,
) -> (Cow<'w, str>, Action) {
    let inside = |s: &Span| s.end > floor && s.start < cut;
    if !window.findings.iter().any(|f| f.spans.iter().any(inside)) {
        return (Cow::Borrowed(&window.text[floor..cut]), Action::Allow);
    }
    let segment = segment_event(window, floor, cut);
    let action = segment
        .findings
        .iter()
        .map(|f| f.action)
        .max()
        .unwrap_or(Action::Allow);
    if !redact::needs_rewrite(&segment) {
        return (Cow::Owned(segment.text.to_string()), action);
    }
    let plan = redact::plan(&segment, registry);
    if window.conversation_id.is_some() {
        // Without a conversation the verdict's own scan numbers (and vaults) them afresh.
        stream.vault.extend(
            redact::new_placeholders(&segment, &plan)
                .into_iter()
                .map(|(placeholder, value)| (placeholder, value.to_string())),
        );
    }
    (Cow::Owned(redact::apply(&segment, &plan)), action)
}

/// The released piece `[floor, cut)` of a window as an event of its own, with the
/// findings' spans inside it (clipped), numbered in the stream's conversation.
fn segment_event(window: &Event, floor: usize, cut: usize) -> Event {
    let findings = window
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
    let mut segment = window.with_text(Arc::from(&window.text[floor..cut]), findings);
    if segment.conversation_id.is_none() {
        // One numbering per stream, as a one-shot scan numbers one event.
        segment.conversation_id = Some(Arc::from(format!("stream:{}", window.id)));
    }
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
    event.triggered = stream.triggered;
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
