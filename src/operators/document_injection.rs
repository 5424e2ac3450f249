//! The document-injection head of `injection_classify`'s passages
//! (`models/heads/document_injection.json`, trained by
//! `scripts/models/train_document_injection.py`): a context passage (a retrieved email, table,
//! code answer, tool result) is split into segments, its lines and the sentences of each line,
//! and the head asks of each segment whether it addresses the assistant with a task of its own
//! rather than carries the document's content. The passage scores as its worst segment. It reads
//! the encoder's `features` output, like the other heads.

use std::path::Path;

use serde::Deserialize;

use crate::inference::dense::{self, Layer};
use crate::model::Span;

/// The head `scripts/models/train_document_injection.py` writes.
pub const DEFAULT_DOCUMENT_HEAD: &str = "models/heads/document_injection.json";

/// A loaded document-injection head.
#[derive(Debug)]
pub struct DocumentHead {
    width: usize,
    layers: Vec<Layer>,
    /// The threshold chosen on the dev split.
    pub threshold: f32,
    /// `sha256:<16 hex>` of the head file (provenance).
    pub digest: &'static str,
}

#[derive(Deserialize)]
struct HeadFile {
    encoder_output: String,
    layers: Vec<Layer>,
    threshold: f32,
}

impl DocumentHead {
    pub fn load(path: &Path) -> Result<DocumentHead, String> {
        let failed = |e: String| format!("document head {}: {e}", path.display());
        let text = std::fs::read_to_string(path).map_err(|e| failed(e.to_string()))?;
        let file: HeadFile = serde_json::from_str(&text).map_err(|e| failed(e.to_string()))?;
        if file.encoder_output != "features" {
            return Err(failed(format!(
                "reads encoder output `{}`; this runtime feeds it `features`",
                file.encoder_output
            )));
        }
        let width = file
            .layers
            .first()
            .and_then(|l| l.weights.first())
            .map_or(0, Vec::len);
        dense::check(&file.layers, width).map_err(failed)?;
        Ok(DocumentHead {
            width,
            layers: file.layers,
            threshold: file.threshold,
            digest: crate::inference::digest::provenance_digest(path)?,
        })
    }

    /// How many features per window it reads.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The probability that a segment (one window's features) addresses the assistant.
    pub fn score(&self, features: &[f32]) -> f32 {
        dense::forward(&self.layers, features.to_vec())
    }
}

/// The segments of a passage, as byte spans: each line, cut after a `.`, `!` or `?` that
/// whitespace and an upper-case ASCII letter or a quote follow; trimmed, empty ones dropped.
pub fn segments(passage: &str) -> Vec<Span> {
    let mut out = Vec::new();
    let mut line_start = 0;
    for line in passage.split('\n') {
        let mut start = 0;
        let chars: Vec<(usize, char)> = line.char_indices().collect();
        for (k, &(at, c)) in chars.iter().enumerate() {
            if !matches!(c, '.' | '!' | '?') {
                continue;
            }
            let rest = &chars[k + 1..];
            let spaces = rest.iter().take_while(|(_, c)| c.is_whitespace()).count();
            let opens = rest
                .get(spaces)
                .is_some_and(|(_, c)| c.is_ascii_uppercase() || matches!(c, '"' | '\''));
            if spaces > 0 && opens {
                push_trimmed(&mut out, line, line_start, start, at + c.len_utf8());
                start = rest[spaces].0;
            }
        }
        push_trimmed(&mut out, line, line_start, start, line.len());
        line_start += line.len() + 1;
    }
    out
}

fn push_trimmed(out: &mut Vec<Span>, line: &str, base: usize, start: usize, end: usize) {
    let piece = &line[start..end];
    let trimmed = piece.trim();
    if trimmed.is_empty() {
        return;
    }
    let lead = piece.len() - piece.trim_start().len();
    out.push(Span::new(
        base + start + lead,
        base + start + lead + trimmed.len(),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(passage: &str) -> Vec<&str> {
        segments(passage)
            .iter()
            .map(|s| &passage[s.start..s.end])
            .collect()
    }

    #[test]
    fn lines_and_sentences_are_segments() {
        assert_eq!(
            texts("SUBJECT: Invoice\nHi Ann. The total is $2,099.00 today!  \"Pay\" soon.\n\n  Thanks"),
            vec![
                "SUBJECT: Invoice",
                "Hi Ann.",
                "The total is $2,099.00 today!",
                "\"Pay\" soon.",
                "Thanks"
            ]
        );
        assert_eq!(
            texts("e.g. this stays whole. and this"),
            vec!["e.g. this stays whole. and this"]
        );
        assert!(segments(" \n\n").is_empty());
    }

    #[test]
    fn the_shipped_head_loads() {
        let head = DocumentHead::load(Path::new(DEFAULT_DOCUMENT_HEAD)).expect("shipped head");
        assert_eq!(head.width(), 768);
        assert!((0.5..1.0).contains(&head.threshold));
    }
}
