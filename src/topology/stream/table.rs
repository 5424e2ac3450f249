//! Open streams: chunks put in order (out-of-order ones parked, duplicates dropped), the
//! text received so far, how much of it is released, and a bounded memory of recently
//! closed streams so a late or repeated chunk of one is recognised.

use std::collections::{BTreeMap, VecDeque};

use ahash::{AHashMap, AHashSet};
use std::sync::Arc;
use std::time::Instant;

use crate::model::Event;

/// Why a stream was flushed before its last chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FlushReason {
    Idle,
    MaxAge,
    Capacity,
    EndOfInput,
}

impl FlushReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FlushReason::Idle => "idle",
            FlushReason::MaxAge => "max_age",
            FlushReason::Capacity => "capacity",
            FlushReason::EndOfInput => "end_of_input",
        }
    }
}

/// One response being streamed.
pub struct OpenStream {
    pub route: usize,
    /// The first chunk as received, text aside: conversation, prompt, metadata, origin.
    pub template: Event,
    /// Every chunk's text so far, in order.
    pub text: String,
    /// (seq, end of its text in `text`), in order.
    pub chunk_ends: Vec<(u64, usize)>,
    pub next_seq: u64,
    /// Chunks that arrived ahead of their turn: seq -> (text, last).
    pub parked: BTreeMap<u64, (Arc<str>, bool)>,
    /// Bytes of `text` released.
    pub released: usize,
    /// Characters of (redacted) text released: the next record's `offset`.
    pub released_chars: usize,
    /// The last chunk arrived and every chunk before it.
    pub finished: bool,
    /// Findings of the incremental operators in the released text (spans in `text`).
    pub findings: Vec<crate::model::Finding>,
    /// Bytes of `text` the latest window scanned (up to its end).
    pub scanned: usize,
    /// Bytes of `text` the model operators read (in sentence windows): releases stop there.
    pub modelled: usize,
    /// Located findings of the sentence windows not yet released (spans in `text`): they
    /// redact the released text like the scan window's own.
    pub model_findings: Vec<crate::model::Finding>,
    /// Operators that saw a trigger in one of its windows (`Event::triggered`).
    pub triggered: Vec<Arc<str>>,
    /// Bit `i`: the stream's gated operator `i` saw a trigger in its latest scan window
    /// (clear: no trigger lies whole in that window).
    pub loud: u64,
    /// Placeholders first assigned in released text (placeholder, value), for the vault.
    pub vault: Vec<(String, String)>,
    pub opened: Instant,
    pub touched: Instant,
    /// The batch that last appended to it, and the batch position of its latest chunk there.
    pub batch: u64,
    pub latest_at: usize,
}

impl OpenStream {
    /// A stream opened by its first chunk (`template`: what every window and the verdict
    /// take from it) on source `route`.
    pub fn new(route: usize, template: Event, now: Instant) -> OpenStream {
        OpenStream {
            route,
            template,
            text: String::new(),
            chunk_ends: Vec::new(),
            next_seq: 0,
            parked: BTreeMap::new(),
            released: 0,
            released_chars: 0,
            finished: false,
            findings: Vec::new(),
            scanned: 0,
            modelled: 0,
            model_findings: Vec::new(),
            triggered: Vec::new(),
            loud: 0,
            vault: Vec::new(),
            opened: now,
            touched: now,
            batch: 0,
            latest_at: 0,
        }
    }

    /// The chunk whose text holds byte `at - 1` (the last chunk a release up to `at`
    /// includes).
    pub fn seq_through(&self, at: usize) -> u64 {
        let index = self.chunk_ends.partition_point(|&(_, end)| end < at);
        self.chunk_ends
            .get(index)
            .or(self.chunk_ends.last())
            .map_or(0, |&(seq, _)| seq)
    }

    /// Whether at least `chars` characters arrived after the latest window's end.
    pub fn unscanned_chars_at_least(&self, chars: usize) -> bool {
        let unscanned = &self.text.as_bytes()[self.scanned..];
        // A character is 1 to 4 bytes: count them only between the two bounds, as the bytes
        // that do not continue a character.
        match unscanned.len() {
            _ if chars == 0 => true,
            bytes if bytes < chars => false,
            bytes if bytes >= 4 * chars => true,
            _ => unscanned.iter().filter(|&&b| (b as i8) >= -0x40).count() >= chars,
        }
    }

    /// An event over `text` for the inspectors, with the stream's conversation, prompt,
    /// context, metadata and origin (built field by field: a window is made per scan).
    pub fn window_event(
        &self,
        id: &Arc<str>,
        text: Arc<str>,
        window: crate::model::StreamWindow,
        now: Instant,
    ) -> Event {
        let t = &self.template;
        Event {
            id: id.clone(),
            kind: t.kind,
            conversation_id: t.conversation_id.clone(),
            text,
            prompt: t.prompt.clone(),
            context: t.context.clone(),
            metadata: t.metadata.clone(),
            origin: t.origin.clone(),
            received_at: now,
            time_ms: t.time_ms,
            chunk: None,
            composed: false,
            triggered: Vec::new(),
            quiet: Vec::new(),
            window: Some(window),
            findings: Vec::new(),
            scores: Vec::new(),
            prepared: Default::default(),
        }
    }

    /// The latest chunk appended.
    pub fn last_seq(&self) -> u64 {
        self.chunk_ends.last().map_or(0, |&(seq, _)| seq)
    }

    fn append(&mut self, seq: u64, text: &str, last: bool) {
        self.text.push_str(text);
        self.chunk_ends.push((seq, self.text.len()));
        self.next_seq = seq + 1;
        self.finished |= last;
    }

    /// Appends parked chunks that are now in turn.
    fn drain_parked(&mut self) {
        while let Some((text, last)) = self.parked.remove(&self.next_seq) {
            let seq = self.next_seq;
            self.append(seq, &text, last);
            if last {
                self.parked.clear();
            }
        }
    }
}

/// What became of a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Appended in order (maybe with parked chunks after it); `first` when it is the
    /// stream's first chunk appended in this batch.
    Appended { first: bool },
    /// Ahead of its turn: held until the chunks before it arrive.
    Parked,
    /// Already seen (a producer's retry), or a chunk of a stream already closed.
    Duplicate,
}

/// Every open stream, by stream id.
#[derive(Default)]
pub struct StreamTable {
    /// Boxed: the map's slots stay small, so probing them stays in cache with many streams.
    open: AHashMap<Arc<str>, Box<OpenStream>>,
    closed: AHashSet<Arc<str>>,
    closed_order: VecDeque<Arc<str>>,
    remember_closed: usize,
    /// Counts batches, so a stream knows whether this batch already appended to it.
    batch: u64,
}

impl StreamTable {
    pub fn new(remember_closed: usize) -> StreamTable {
        StreamTable {
            remember_closed,
            ..StreamTable::default()
        }
    }

    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Starts a new batch of chunks.
    pub fn next_batch(&mut self) {
        self.batch += 1;
    }

    /// Takes one chunk event (its `chunk` set) of source `route`, at batch position `at`.
    pub fn accept(&mut self, route: usize, event: Event, at: usize, now: Instant) -> Accepted {
        let Some(chunk) = event.chunk.as_ref() else {
            return Accepted::Duplicate;
        };
        let (seq, last) = (chunk.seq, chunk.last);
        let text = event.text.clone();
        let stream = match self.open.get_mut(&chunk.stream_id) {
            Some(stream) => stream,
            // An open stream is never a closed one: the closed set is looked at only here.
            None if self.closed.contains(&chunk.stream_id) => return Accepted::Duplicate,
            None => {
                let id = chunk.stream_id.clone();
                self.open
                    .entry(id)
                    .or_insert_with(|| Box::new(OpenStream::new(route, event, now)))
            }
        };
        stream.touched = now;
        if seq < stream.next_seq || stream.parked.contains_key(&seq) || stream.finished {
            return Accepted::Duplicate;
        }
        if seq > stream.next_seq {
            stream.parked.insert(seq, (text, last));
            return Accepted::Parked;
        }
        stream.append(seq, &text, last);
        stream.drain_parked();
        let first = stream.batch != self.batch;
        stream.batch = self.batch;
        stream.latest_at = at;
        Accepted::Appended { first }
    }

    pub fn get(&self, id: &str) -> Option<&OpenStream> {
        self.open.get(id).map(|s| &**s)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut OpenStream> {
        self.open.get_mut(id).map(|s| &mut **s)
    }

    /// Removes an open stream without remembering it: its chunks may be read again.
    pub fn forget(&mut self, id: &str) -> bool {
        self.open.remove(id).is_some()
    }

    /// Removes a stream for good: later chunks of it are duplicates.
    pub fn close(&mut self, id: &Arc<str>) -> Option<OpenStream> {
        let stream = self.open.remove(id).map(|s| *s);
        if self.remember_closed > 0 && self.closed.insert(id.clone()) {
            self.closed_order.push_back(id.clone());
            while self.closed_order.len() > self.remember_closed {
                if let Some(old) = self.closed_order.pop_front() {
                    self.closed.remove(&old);
                }
            }
        }
        stream
    }

    /// Streams past a timeout, or the oldest ones past `max_streams`, with why.
    pub fn due(
        &self,
        now: Instant,
        idle_ms: u64,
        max_age_ms: u64,
        max_streams: usize,
    ) -> Vec<(Arc<str>, FlushReason)> {
        let mut due: Vec<(Arc<str>, FlushReason)> = self
            .open
            .iter()
            .filter_map(|(id, s)| {
                let age = now.saturating_duration_since(s.opened).as_millis() as u64;
                let idle = now.saturating_duration_since(s.touched).as_millis() as u64;
                if age >= max_age_ms {
                    Some((id.clone(), FlushReason::MaxAge))
                } else if idle >= idle_ms {
                    Some((id.clone(), FlushReason::Idle))
                } else {
                    None
                }
            })
            .collect();
        let over = self
            .open
            .len()
            .saturating_sub(due.len())
            .saturating_sub(max_streams);
        if over > 0 {
            let mut oldest: Vec<(&Arc<str>, Instant)> = self
                .open
                .iter()
                .filter(|(id, _)| !due.iter().any(|(d, _)| d == *id))
                .map(|(id, s)| (id, s.opened))
                .collect();
            oldest.sort_by_key(|&(_, opened)| opened);
            due.extend(
                oldest
                    .into_iter()
                    .take(over)
                    .map(|(id, _)| (id.clone(), FlushReason::Capacity)),
            );
        }
        due.sort();
        due
    }

    /// Every open stream's id (sorted, for a deterministic flush order).
    pub fn ids(&self) -> Vec<Arc<str>> {
        let mut ids: Vec<Arc<str>> = self.open.keys().cloned().collect();
        ids.sort();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Chunk;

    fn chunk(stream: &str, seq: u64, text: &str, last: bool) -> Event {
        let mut event = Event::prompt("x", text);
        event.chunk = Some(Chunk {
            stream_id: stream.into(),
            seq,
            last,
        });
        event
    }

    #[test]
    fn reorders_parks_and_drops_duplicates() {
        let now = Instant::now();
        let mut table = StreamTable::new(10);
        table.next_batch();
        assert_eq!(
            table.accept(0, chunk("s", 1, "b", false), 0, now),
            Accepted::Parked
        );
        assert_eq!(
            table.accept(0, chunk("s", 1, "b", false), 1, now),
            Accepted::Duplicate
        );
        assert_eq!(
            table.accept(0, chunk("s", 0, "a", false), 2, now),
            Accepted::Appended { first: true }
        );
        assert_eq!(
            table.accept(0, chunk("s", 0, "a", false), 3, now),
            Accepted::Duplicate
        );
        assert_eq!(
            table.accept(0, chunk("s", 2, "c", true), 4, now),
            Accepted::Appended { first: false }
        );
        assert_eq!(table.get("s").unwrap().latest_at, 4);
        let stream = table.get("s").unwrap();
        assert_eq!(stream.text, "abc");
        assert!(stream.finished);
        assert_eq!(stream.seq_through(2), 1);
        assert_eq!(stream.seq_through(3), 2);
        table.close(&Arc::from("s"));
        assert_eq!(
            table.accept(0, chunk("s", 3, "d", false), 5, now),
            Accepted::Duplicate
        );
    }
}
