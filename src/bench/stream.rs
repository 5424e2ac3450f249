//! `railyard bench stream`: streamed responses against the same text scanned one-shot, on
//! one worker thread, in one command. Many concurrent streams of fixed-size chunks are fed
//! round by round (chunk 0 of every stream, then chunk 1, ...), in batches, through the
//! topology's pipeline in memory; the one-shot run gives each whole response to the same
//! pipeline with an enriched record (the redacted text a one-shot guard returns). Reported:
//! chunks/s and the ratio to one-shot, characters held back after each chunk (p50/p99, and
//! the time those characters take to generate at a given token rate), memory per open
//! stream, and, by configuration, the usual per-chunk scan (with the values it leaks) and
//! full rescan.

use std::sync::Arc;
use std::time::Instant;

use crate::config::spec::StdoutSinkConfig;
use crate::config::{ModelWindows, RecordKind, SinkNode, SinkSpec, StreamScan, Topology};
use crate::model::{Chunk, Event, EventKind, Origin};
use crate::topology::output::{Input, InputRef};
use crate::topology::Pipeline;

/// The shape of the measured traffic.
#[derive(Debug, Clone)]
pub struct StreamLoad {
    pub streams: usize,
    pub chunks_per_stream: usize,
    pub tokens_per_chunk: usize,
    pub batch: usize,
    /// Share of responses with a PII value or secret in them (split across chunks where it
    /// falls so).
    pub sensitive_share: f64,
    /// The scan strategies measured after the one-shot baseline, each with the windows its
    /// model operators read.
    pub scans: Vec<(StreamScan, ModelWindows)>,
}

/// One scan strategy's figures.
#[derive(Debug, Clone)]
pub struct StreamFigures {
    pub scan: String,
    pub chunks_per_second: f64,
    pub released_records: u64,
    /// Streams that a window blocked: their later chunks cost next to nothing, so a run
    /// where many are blocked is faster for that reason alone.
    pub blocked_streams: usize,
    /// Characters received but not yet released after each chunk: p50, p99.
    pub held_chars: (usize, usize),
    /// Pieces (5 characters) of detected values found in released records.
    pub leaked_pieces: u64,
    /// Seconds in the inspectors (windows and whole responses), of all the run's seconds.
    pub inspector_seconds: f64,
    pub seconds: f64,
}

/// Everything `railyard bench stream` prints.
#[derive(Debug, Clone)]
pub struct StreamReport {
    pub one_shot_chunks_per_second: f64,
    /// Share of the one-shot run spent in the inspectors.
    pub one_shot_inspector_share: f64,
    pub runs: Vec<StreamFigures>,
    pub hold_back_chars: usize,
    /// Resident memory added per open stream (KiB), with every stream open at half length.
    pub kib_per_open_stream: f64,
    pub chars_per_stream: f64,
}

const WORDS: &[&str] = &[
    "the", "order", "will", "arrive", "within", "three", "working", "days", "and", "you", "can",
    "track", "it", "from", "your", "account", "page", "if", "anything", "changes", "we", "send",
    "an", "update", "by", "mail", "please", "note", "that", "returns", "are", "free", "for",
    "thirty", "of", "delivery", "our", "team", "is", "happy", "to", "help",
];

const VALUES: &[&str] = &[
    "jane.doe@example.com",
    "4111 1111 1111 1111",
    "+44 20 7946 0958",
    "123-45-6789",
    "AKIAIOSFODNN7EXAMPLE",
];

/// The value response `s` holds, for a `share` of the responses: every kind in turn (the
/// responses that hold one are evenly spaced, so their index alone would pick one kind).
fn value_of(s: usize, share: f64) -> Option<&'static str> {
    let sensitive = (s as f64 * share).fract() + share >= 1.0;
    let held_before = (s as f64 * share).floor() as usize;
    sensitive.then(|| VALUES[held_before % VALUES.len()])
}

/// A deterministic response of `tokens` words, a sensitive value placed in it when `value`.
fn response(seed: u64, tokens: usize, value: Option<&str>) -> Vec<String> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut words: Vec<String> = (0..tokens)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            WORDS[(state >> 33) as usize % WORDS.len()].to_string()
        })
        .collect();
    // Sentences of 8 to 16 words.
    let mut next_end = 0;
    for at in 0..words.len() {
        if at == next_end {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            next_end = at + 8 + (state >> 33) as usize % 9;
            words[at] = capitalized(&words[at]);
        }
        if at + 1 == next_end || at + 1 == words.len() {
            words[at].push('.');
        }
    }
    if let Some(value) = value {
        let at = (state >> 20) as usize % tokens.max(1);
        words[at] = value.to_string();
    }
    words
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// The streams' chunks: per stream, its chunks' texts (words joined, each chunk but the
/// first starting with a space).
pub fn generate(load: &StreamLoad) -> Vec<Vec<String>> {
    (0..load.streams)
        .map(|s| {
            let value = value_of(s, load.sensitive_share);
            let words = response(
                s as u64,
                load.chunks_per_stream * load.tokens_per_chunk,
                value,
            );
            let text = words.join(" ");
            // Chunks end anywhere (model tokens are pieces of words), so values get split.
            let chars: Vec<char> = text.chars().collect();
            let size = chars.len().div_ceil(load.chunks_per_stream).max(1);
            let mut chunks: Vec<String> = chars.chunks(size).map(|c| c.iter().collect()).collect();
            chunks.resize(load.chunks_per_stream, String::new());
            chunks
        })
        .collect()
}

fn input(event: Event) -> Input<'static> {
    Input {
        at: InputRef {
            origin: event.origin.clone(),
            raw: b"",
            size: 0,
        },
        decoded: Ok(event),
    }
}

fn origin() -> Origin {
    Origin::Line {
        source: Arc::from("bench"),
        line: 0,
    }
}

/// Chunk `seq` of stream `stream_id`.
fn chunk_event(stream_id: String, seq: usize, text: &str, last: bool) -> Event {
    let mut e = Event::prompt(&format!("{stream_id}/{seq}"), text);
    e.kind = EventKind::Response;
    e.origin = origin();
    e.chunk = Some(Chunk {
        stream_id: Arc::from(stream_id),
        seq: seq as u64,
        last,
    });
    e
}

/// The topology with an enriched record for every event (what a one-shot guard returns).
pub fn with_enriched(topology: &Topology) -> Topology {
    let mut t = topology.clone();
    t.sinks.push(SinkNode {
        id: Arc::from("bench_enriched"),
        inputs: Vec::new(),
        spec: SinkSpec::Stdout(StdoutSinkConfig {
            records: RecordKind::Enriched,
        }),
    });
    let index = t.sinks.len() - 1;
    for route in &mut t.routes {
        route.sinks.push(index);
    }
    t
}

/// Runs the whole responses one-shot; chunks/s of the same text.
fn one_shot(pipeline: &Pipeline, texts: &[Vec<String>], load: &StreamLoad) -> (f64, f64) {
    let events: Vec<Event> = texts
        .iter()
        .enumerate()
        .map(|(s, chunks)| {
            let mut e = Event::prompt(&format!("r{s}"), &chunks.concat());
            e.kind = EventKind::Response;
            e.origin = origin();
            e
        })
        .collect();
    let started = Instant::now();
    let mut inspectors = 0.0;
    for batch in events.chunks(load.batch) {
        let out = pipeline.run_batch(0, batch.iter().cloned().map(input).collect());
        inspectors += out
            .timings
            .iter()
            .map(|(_, d)| d.as_secs_f64())
            .sum::<f64>();
        std::hint::black_box(&out);
    }
    let seconds = started.elapsed().as_secs_f64();
    let chunks = (texts.len() * load.chunks_per_stream) as f64;
    (chunks / seconds, inspectors / seconds)
}

/// The one-shot enriched text of each response that holds a value (untimed).
fn reference(pipeline: &Pipeline, texts: &[Vec<String>], load: &StreamLoad) -> Vec<Option<String>> {
    let sensitive: Vec<bool> = (0..texts.len())
        .map(|s| value_of(s, load.sensitive_share).is_some())
        .collect();
    texts
        .iter()
        .zip(&sensitive)
        .map(|(chunks, &sensitive)| {
            sensitive.then(|| {
                let mut e = Event::prompt("ref", &chunks.concat());
                e.kind = EventKind::Response;
                let p = pipeline.process(0, vec![e], true);
                p[0].enriched
                    .as_ref()
                    .map(|r| r.text.to_string())
                    .unwrap_or_default()
            })
        })
        .collect()
}

/// Streams every response, round by round; the figures of `scan`.
fn streamed(
    pipeline: &Pipeline,
    texts: &[Vec<String>],
    load: &StreamLoad,
    scan: String,
    reference: &[Option<String>],
) -> StreamFigures {
    let mut held = Vec::new();
    let mut received = vec![0usize; texts.len()];
    let mut released = vec![0usize; texts.len()];
    let mut records = 0u64;
    let mut released_texts: Vec<(usize, String)> = Vec::new();
    let mut blocked = vec![false; texts.len()];
    let mut elapsed = 0.0;
    let mut inspector_seconds = 0.0;
    let index = |id: &str| -> usize { id[1..].parse().unwrap_or(0) };
    for round in 0..load.chunks_per_stream {
        let events: Vec<Event> = texts
            .iter()
            .enumerate()
            .map(|(s, chunks)| {
                chunk_event(
                    format!("r{s}"),
                    round,
                    &chunks[round],
                    round + 1 == load.chunks_per_stream,
                )
            })
            .collect();
        for (s, chunks) in texts.iter().enumerate() {
            received[s] += chunks[round].chars().count();
        }
        for batch in events.chunks(load.batch) {
            let inputs: Vec<Input<'static>> = batch.iter().cloned().map(input).collect();
            let started = Instant::now();
            let out = pipeline.run_batch(0, inputs);
            elapsed += started.elapsed().as_secs_f64();
            inspector_seconds += out
                .timings
                .iter()
                .map(|(_, d)| d.as_secs_f64())
                .sum::<f64>();
            for record in &out.streams.records {
                records += 1;
                let value: serde_json::Value =
                    serde_json::from_slice(&record.record).unwrap_or_default();
                if value["type"] == "stream_blocked" {
                    blocked[index(&record.key)] = true;
                }
                if let Some(text) = value["text"].as_str() {
                    released[index(&record.key)] += text.chars().count();
                    let s = index(&record.key);
                    if reference[s].is_some() {
                        released_texts.push((s, text.to_string()));
                    }
                }
            }
        }
        for s in (0..texts.len()).filter(|&s| !blocked[s]) {
            held.push(received[s].saturating_sub(released[s]));
        }
    }
    held.sort_unstable();
    let pick = |q: f64| {
        held.get(((held.len().max(1) - 1) as f64 * q) as usize)
            .copied()
            .unwrap_or(0)
    };
    // A piece of the stream's value in a released record that its one-shot text lacks.
    let leaked_pieces = released_texts
        .iter()
        .map(|(s, text)| {
            let expected = reference[*s].as_deref().unwrap_or("");
            let value: Vec<char> = value_of(*s, load.sensitive_share)
                .unwrap_or_default()
                .chars()
                .collect();
            value
                .windows(5)
                .map(|w| w.iter().collect::<String>())
                .filter(|p| text.contains(p.as_str()) && !expected.contains(p.as_str()))
                .count() as u64
        })
        .sum();
    StreamFigures {
        scan,
        chunks_per_second: (texts.len() * load.chunks_per_stream) as f64 / elapsed.max(1e-9),
        released_records: records,
        blocked_streams: blocked.iter().filter(|b| **b).count(),
        held_chars: (pick(0.5), pick(0.99)),
        leaked_pieces,
        inspector_seconds,
        seconds: elapsed,
    }
}

/// Opens every stream to half its length and measures the memory added per stream.
fn memory_per_stream(topology: &Topology, texts: &[Vec<String>], load: &StreamLoad) -> f64 {
    let Ok(pipeline) = Pipeline::build(topology) else {
        return f64::NAN;
    };
    let before = super::file::status_kib("VmRSS:").unwrap_or(0);
    for round in 0..load.chunks_per_stream / 2 {
        let events: Vec<Event> = texts
            .iter()
            .enumerate()
            .map(|(s, chunks)| chunk_event(format!("m{s}"), round, &chunks[round], false))
            .collect();
        for batch in events.chunks(load.batch) {
            std::hint::black_box(pipeline.run_batch(0, batch.iter().cloned().map(input).collect()));
        }
    }
    let after = super::file::status_kib("VmRSS:").unwrap_or(0);
    let open = pipeline.streams().open_streams().max(1);
    after.saturating_sub(before) as f64 / open as f64
}

/// Measures `topology` (its first source's route) on `load`, on the current thread pool.
pub fn run(
    topology: &Topology,
    load: &StreamLoad,
) -> Result<StreamReport, crate::operators::BuildError> {
    let texts = generate(load);
    let kib_per_open_stream = memory_per_stream(topology, &texts, load);
    let scanned = |(scan, windows): (StreamScan, ModelWindows)| -> Result<(Pipeline, String), crate::operators::BuildError> {
        let mut t = topology.clone();
        t.stream.scan = scan;
        t.stream.model_windows = windows;
        let name = match load.scans.iter().any(|(_, w)| *w != windows) {
            true => format!("{}/{}", scan.as_str(), windows.as_str()),
            false => scan.as_str().to_string(),
        };
        Ok((Pipeline::build(&t)?, name))
    };
    let one_shot_pipeline = Pipeline::build(&with_enriched(topology))?;
    // Warm up both paths on a slice of the load.
    let warm = StreamLoad {
        streams: load.streams.min(500),
        ..load.clone()
    };
    let warm_texts = generate(&warm);
    one_shot(&one_shot_pipeline, &warm_texts, &warm);
    let (incremental, _) = scanned((StreamScan::Incremental, topology.stream.model_windows))?;
    let warm_reference = vec![None; warm_texts.len()];
    streamed(
        &incremental,
        &warm_texts,
        &warm,
        "warm-up".into(),
        &warm_reference,
    );
    let reference = reference(&one_shot_pipeline, &texts, load);
    let hold_back_chars = Pipeline::build(topology)?.streams().hold_back_chars();

    let (one_shot_chunks_per_second, one_shot_inspector_share) =
        one_shot(&one_shot_pipeline, &texts, load);
    let mut runs = Vec::new();
    for &scan in &load.scans {
        let (pipeline, name) = scanned(scan)?;
        runs.push(streamed(&pipeline, &texts, load, name, &reference));
    }
    let chars_per_stream = texts
        .iter()
        .map(|c| c.iter().map(|t| t.chars().count()).sum::<usize>())
        .sum::<usize>() as f64
        / texts.len().max(1) as f64;
    Ok(StreamReport {
        one_shot_chunks_per_second,
        one_shot_inspector_share,
        runs,
        hold_back_chars,
        kib_per_open_stream,
        chars_per_stream,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_responses_with_a_value_hold_every_kind_in_turn() {
        let held: Vec<&str> = (0..100).filter_map(|s| value_of(s, 0.1)).collect();
        assert_eq!(held.len(), 10);
        for value in VALUES {
            assert_eq!(held.iter().filter(|v| *v == value).count(), 2, "{value}");
        }
        assert!((0..100).all(|s| value_of(s, 0.0).is_none()));
        assert!((0..100).all(|s| value_of(s, 1.0).is_some()));
    }
}
