//! Kafka records in and out: an owned copy of a consumed message, and the headers railyard
//! writes on its outputs so every record points back at its input.

use std::sync::Arc;

use rdkafka::message::{BorrowedMessage, Header, Headers, OwnedHeaders};
use rdkafka::Message;

/// Header names on every output record.
pub mod header {
    pub const SOURCE_TOPIC: &str = "railyard.source.topic";
    pub const SOURCE_PARTITION: &str = "railyard.source.partition";
    pub const SOURCE_OFFSET: &str = "railyard.source.offset";
    /// Milliseconds since the epoch of the input record (its create or log-append time).
    pub const SOURCE_TIMESTAMP: &str = "railyard.source.timestamp";
    pub const EVENT_ID: &str = "railyard.event.id";
    pub const CONTENT_TYPE: &str = "content-type";
    /// Dead letters only: the reason class (`invalid_json`, `too_large`, ...).
    pub const ERROR_KIND: &str = "railyard.error.kind";
    /// Dead letters only: the full reason.
    pub const ERROR_REASON: &str = "railyard.error.reason";
}

/// A consumed record, copied out of librdkafka's buffer.
#[derive(Debug, Clone)]
pub struct InputRecord {
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    /// Milliseconds since the epoch, when the broker or producer set one.
    pub timestamp_ms: Option<i64>,
}

impl InputRecord {
    /// Copies a message; `topic` is the interned name of its topic.
    pub fn copy(message: &BorrowedMessage<'_>, topic: Arc<str>) -> Self {
        InputRecord {
            topic,
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
            timestamp_ms: message.timestamp().to_millis(),
        }
    }

    /// `topic/partition/offset`, the id of an input that has none of its own.
    pub fn position(&self) -> String {
        format!("{}/{}/{}", self.topic, self.partition, self.offset)
    }

    /// Headers linking an output to this input.
    pub fn output_headers(&self, event_id: &str, content_type: &str) -> OwnedHeaders {
        let partition = self.partition.to_string();
        let offset = self.offset.to_string();
        let mut headers = OwnedHeaders::new_with_capacity(6)
            .insert(text_header(header::SOURCE_TOPIC, &self.topic))
            .insert(text_header(header::SOURCE_PARTITION, &partition))
            .insert(text_header(header::SOURCE_OFFSET, &offset))
            .insert(text_header(header::EVENT_ID, event_id))
            .insert(text_header(header::CONTENT_TYPE, content_type));
        if let Some(ts) = self.timestamp_ms {
            let ts = ts.to_string();
            headers = headers.insert(text_header(header::SOURCE_TIMESTAMP, &ts));
        }
        headers
    }
}

fn text_header<'a>(key: &'a str, value: &'a str) -> Header<'a, &'a str> {
    Header {
        key,
        value: Some(value),
    }
}

/// Adds the dead-letter reason headers.
pub fn dead_letter_headers(headers: OwnedHeaders, kind: &str, reason: &str) -> OwnedHeaders {
    headers
        .insert(text_header(header::ERROR_KIND, kind))
        .insert(text_header(header::ERROR_REASON, reason))
}

/// The value of a text header, if present and UTF-8.
pub fn header_text<'a, H: Headers>(headers: &'a H, key: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.key == key)
        .and_then(|h| h.value)
        .and_then(|v| std::str::from_utf8(v).ok())
}
