//! Restoring originals for an authorised service: read vault entries, keep those of one
//! conversation, decrypt them, and replace placeholders in a text.

use std::collections::BTreeMap;

use super::{Vault, VaultError, VaultRecord};

/// Placeholder to original value, for one conversation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mapping(pub BTreeMap<String, String>);

/// What reading the entries found.
#[derive(Debug, Default)]
pub struct Collected {
    pub mapping: Mapping,
    /// Entries of the conversation that would not open, with why.
    pub failures: Vec<(String, VaultError)>,
    /// Entries read in all (every conversation).
    pub entries: u64,
}

/// Opens every entry of `conversation` among `records` (the latest entry per placeholder wins,
/// as in a compacted topic).
pub fn collect<'a>(
    vault: &Vault,
    conversation: &str,
    records: impl IntoIterator<Item = &'a [u8]>,
) -> Collected {
    let mut out = Collected::default();
    for bytes in records {
        out.entries += 1;
        let record: VaultRecord = match serde_json::from_slice(bytes) {
            Ok(r) => r,
            Err(e) => {
                out.failures
                    .push((String::new(), VaultError::Format(e.to_string())));
                continue;
            }
        };
        if record.conversation != conversation {
            continue;
        }
        match vault.open(&record) {
            Ok(value) => {
                out.mapping.0.insert(record.placeholder, value);
            }
            Err(e) => out.failures.push((record.placeholder, e)),
        }
    }
    out
}

impl Mapping {
    /// `text` with every known placeholder replaced by its original.
    pub fn restore(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find('<') {
            out.push_str(&rest[..start]);
            let tail = &rest[start..];
            match tail.find('>').map(|end| &tail[..=end]) {
                Some(candidate) if self.0.contains_key(candidate) => {
                    out.push_str(&self.0[candidate]);
                    rest = &tail[candidate.len()..];
                }
                _ => {
                    out.push('<');
                    rest = &tail[1..];
                }
            }
        }
        out.push_str(rest);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_of_the_conversation_are_restored() {
        let vault = Vault::new(&[1u8; 32]);
        let entries = [
            vault.seal("c1", "<EMAIL_ADDRESS_1>", "a@b.io"),
            vault.seal("c1", "<PERSON_1>", "Zoë"),
            vault.seal("c2", "<PERSON_1>", "Other"),
        ];
        let got = collect(&vault, "c1", entries.iter().map(|e| e.record.as_slice()));
        assert_eq!(got.entries, 3);
        assert!(got.failures.is_empty());
        assert_eq!(
            got.mapping
                .restore("<PERSON_1> wrote to <EMAIL_ADDRESS_1> about <PERSON_2> (a < b)"),
            "Zoë wrote to a@b.io about <PERSON_2> (a < b)"
        );
    }
}
