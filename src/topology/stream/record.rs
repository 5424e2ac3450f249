//! The records a streamed response produces on `records = "released"` sinks
//! (`schemas/released.schema.json`): `released` (a prefix proven safe, already redacted) and
//! `stream_blocked` (the stream stops here; nothing more of it is released).

use std::sync::Arc;

use serde::Serialize;

use crate::model::{Action, Category, SCHEMA_VERSION};

/// Text of a stream released to the reader.
#[derive(Debug, Serialize)]
pub struct ReleasedRecord<'a> {
    pub schema_version: &'static str,
    #[serde(rename = "type")]
    pub record_type: &'static str,
    pub stream_id: &'a str,
    /// The last chunk whose text is (at least partly) included.
    pub seq_through: u64,
    /// Characters released before this record (a reader appends at this offset; a
    /// repeated record after a restart has the same offset and `seq_through`).
    pub offset: usize,
    /// Redacted text.
    pub text: &'a str,
    /// The strongest action of the findings in this text.
    pub action: Action,
    /// Set when a timeout or the end of the input released the held tail before the last
    /// chunk: `idle`, `max_age`, `capacity` or `end_of_input`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flushed: Option<&'static str>,
}

/// The stream was blocked: no more of its text is released.
#[derive(Debug, Serialize)]
pub struct StreamBlockedRecord<'a> {
    pub schema_version: &'static str,
    #[serde(rename = "type")]
    pub record_type: &'static str,
    pub stream_id: &'a str,
    /// The chunk at which it was blocked (the latest one scanned).
    pub seq: u64,
    /// Characters released before it.
    pub offset: usize,
    pub categories: Vec<Category>,
    pub labels: Vec<Arc<str>>,
}

impl<'a> ReleasedRecord<'a> {
    pub fn new(stream_id: &'a str, seq_through: u64, offset: usize, text: &'a str) -> Self {
        ReleasedRecord {
            schema_version: SCHEMA_VERSION,
            record_type: "released",
            stream_id,
            seq_through,
            offset,
            text,
            action: Action::Allow,
            flushed: None,
        }
    }
}

impl<'a> StreamBlockedRecord<'a> {
    pub fn new(stream_id: &'a str, seq: u64, offset: usize) -> Self {
        StreamBlockedRecord {
            schema_version: SCHEMA_VERSION,
            record_type: "stream_blocked",
            stream_id,
            seq,
            offset,
            categories: Vec::new(),
            labels: Vec::new(),
        }
    }
}
