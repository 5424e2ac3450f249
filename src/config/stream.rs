//! `[stream]`: how streamed responses (`response_chunk` events) are held back and released:
//! the hold-back tail, the carried-over scan context, flush timeouts, the scan strategy
//! (incremental, or the usual per-chunk and full-rescan approaches, for comparison) and the
//! windows model operators read (sentences, or every scan).

use serde::Deserialize;

use crate::diagnostics::{join, Errors};

/// How each new piece of a stream is scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StreamScan {
    /// New text plus a bounded carried-over context; release only a prefix proven safe.
    #[default]
    Incremental,
    /// Each chunk alone, released at once (what many guardrails do; leaks split values).
    PerChunk,
    /// The whole text so far on every chunk (safe, but the cost grows with the square of
    /// the length).
    Rescan,
}

impl StreamScan {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamScan::Incremental => "incremental",
            StreamScan::PerChunk => "per_chunk",
            StreamScan::Rescan => "rescan",
        }
    }
}

/// Which windows of a stream the model operators (toxicity, injection and NER heads) read
/// while it is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ModelWindows {
    /// Each sentence once (or a piece of at most `model_window_chars` where a sentence runs
    /// longer), the sentences of every stream in a batch inferred together; text is released
    /// only once the models have read it.
    #[default]
    Sentences,
    /// Every scan window, like the pattern operators (the context and held tail read again
    /// on each scan): for comparison.
    EveryScan,
}

impl ModelWindows {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelWindows::Sentences => "sentences",
            ModelWindows::EveryScan => "every_scan",
        }
    }
}

/// `[stream]`; every key has a default, so streams work without the table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamConfig {
    /// Characters always held back at the end of the unreleased text; unset: 64 or the
    /// longest keyword term plus one, whichever is longer.
    pub hold_back_chars: Option<usize>,
    /// Characters of already released text scanned again with the new text (context that
    /// detectors read before a value, such as `ssn:` or `password =`).
    pub context_chars: usize,
    /// A stream is scanned again once this many characters arrived after its last scan (or
    /// at its last chunk, or a flush): token-sized chunks are scanned together instead of
    /// each paying for the carried-over context. Applies to `scan = "incremental"`.
    pub min_scan_chars: usize,
    /// A stream without a new chunk for this long is flushed (its held tail released after a
    /// final scan, the record flagged `flushed = "idle"`) and closed.
    pub idle_timeout_ms: u64,
    /// A stream open this long is flushed (`flushed = "max_age"`) and closed; on Kafka this
    /// bounds how far an open stream holds back its partition's committed offset.
    pub max_age_ms: u64,
    /// Most open streams; past it the oldest is flushed (`flushed = "capacity"`).
    pub max_streams: usize,
    /// Recently closed streams remembered, so a late duplicate chunk is recognised.
    pub remember_closed: usize,
    pub scan: StreamScan,
    /// Which windows the model operators read while a stream is open (its verdict reads the
    /// whole response either way).
    pub model_windows: ModelWindows,
    /// Longest piece a model window holds when a sentence runs longer (cut at a word).
    pub model_window_chars: usize,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            hold_back_chars: None,
            context_chars: 48,
            min_scan_chars: 32,
            idle_timeout_ms: 30_000,
            max_age_ms: 600_000,
            max_streams: 100_000,
            remember_closed: 100_000,
            scan: StreamScan::Incremental,
            model_windows: ModelWindows::Sentences,
            model_window_chars: 512,
        }
    }
}

impl StreamConfig {
    pub fn validate(&self, path: &str, errors: &mut Errors) {
        if self.hold_back_chars.is_some_and(|h| h == 0 || h > 65_536) {
            errors.push(join(path, "hold_back_chars"), "must be within 1..=65536");
        }
        if self.context_chars > 65_536 {
            errors.push(join(path, "context_chars"), "must be at most 65536");
        }
        if self.min_scan_chars > 65_536 {
            errors.push(join(path, "min_scan_chars"), "must be at most 65536");
        }
        if !(16..=65_536).contains(&self.model_window_chars) {
            errors.push(
                join(path, "model_window_chars"),
                "must be within 16..=65536",
            );
        }
        if self.idle_timeout_ms == 0 {
            errors.push(join(path, "idle_timeout_ms"), "must be at least 1");
        }
        if self.max_age_ms < self.idle_timeout_ms {
            errors.push(
                join(path, "max_age_ms"),
                format!(
                    "must be at least idle_timeout_ms ({}), got {}",
                    self.idle_timeout_ms, self.max_age_ms
                ),
            );
        }
        if self.max_streams == 0 {
            errors.push(join(path, "max_streams"), "must be at least 1");
        }
    }
}
