//! The pseudonymization vault: for each placeholder a redaction assigns (`<EMAIL_ADDRESS_1>`),
//! the original value encrypted with AES-256-GCM under a key from the environment.
//!
//! Entries are keyed by conversation and placeholder (`conversation` is the event's
//! conversation id, or `event:<id>` for events without one) and written to a compacted Kafka
//! topic, so the topic keeps one entry per placeholder. The conversation and placeholder are
//! the AEAD's associated data: an entry moved to another key fails to decrypt. Only a holder
//! of the key can restore originals (`railyard reveal`).

pub mod reveal;

use std::sync::Arc;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Version of the vault entry format.
pub const VAULT_SCHEMA_VERSION: &str = "1";

/// Why an entry could not be opened.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VaultError {
    #[error("vault entry is not valid JSON: {0}")]
    Format(String),
    #[error("vault entry was sealed with key {found}, not with this key ({expected})")]
    WrongKey { expected: String, found: String },
    #[error(
        "vault entry does not decrypt: modified, or moved from another conversation or placeholder"
    )]
    Decrypt,
}

/// An encrypted placeholder mapping as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaultRecord {
    pub schema_version: String,
    pub conversation: String,
    pub placeholder: String,
    /// First 16 hex digits of SHA-256 of the key: which key sealed it (not the key).
    pub key_id: String,
    pub nonce: String,
    pub ciphertext: String,
}

impl VaultRecord {
    /// The Kafka record key: one per conversation and placeholder, so compaction keeps one.
    pub fn record_key(&self) -> String {
        record_key(&self.conversation, &self.placeholder)
    }
}

pub fn record_key(conversation: &str, placeholder: &str) -> String {
    format!("{conversation}\u{1f}{placeholder}")
}

/// A sealed entry, ready to write.
#[derive(Debug, Clone)]
pub struct SealedEntry {
    pub key: String,
    pub record: Vec<u8>,
}

/// Seals and opens entries with one key.
pub struct Vault {
    cipher: Aes256Gcm,
    key_id: String,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("key_id", &self.key_id)
            .finish()
    }
}

fn aad(conversation: &str, placeholder: &str) -> Vec<u8> {
    record_key(conversation, placeholder).into_bytes()
}

impl Vault {
    pub fn new(key: &[u8; 32]) -> Vault {
        Vault {
            cipher: Aes256Gcm::new(key.into()),
            key_id: hex::encode(&Sha256::digest(key)[..8]),
        }
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Encrypts `value` for `placeholder` in `conversation` (a fresh random nonce each time).
    pub fn seal(&self, conversation: &str, placeholder: &str, value: &str) -> SealedEntry {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: value.as_bytes(),
                    aad: &aad(conversation, placeholder),
                },
            )
            .expect("AES-GCM encryption of a short value cannot fail");
        let b64 = base64::engine::general_purpose::STANDARD;
        let record = VaultRecord {
            schema_version: VAULT_SCHEMA_VERSION.to_string(),
            conversation: conversation.to_string(),
            placeholder: placeholder.to_string(),
            key_id: self.key_id.clone(),
            nonce: b64.encode(nonce),
            ciphertext: b64.encode(ciphertext),
        };
        SealedEntry {
            key: record.record_key(),
            record: serde_json::to_vec(&record).expect("vault records serialize"),
        }
    }

    /// Decrypts one stored entry.
    pub fn open(&self, record: &VaultRecord) -> Result<String, VaultError> {
        if record.key_id != self.key_id {
            return Err(VaultError::WrongKey {
                expected: self.key_id.clone(),
                found: record.key_id.clone(),
            });
        }
        let b64 = base64::engine::general_purpose::STANDARD;
        let nonce = b64
            .decode(&record.nonce)
            .map_err(|e| VaultError::Format(format!("nonce: {e}")))?;
        if nonce.len() != 12 {
            return Err(VaultError::Format(format!(
                "nonce is {} bytes, not 12",
                nonce.len()
            )));
        }
        let ciphertext = b64
            .decode(&record.ciphertext)
            .map_err(|e| VaultError::Format(format!("ciphertext: {e}")))?;
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: &aad(&record.conversation, &record.placeholder),
                },
            )
            .map_err(|_| VaultError::Decrypt)?;
        String::from_utf8(plain).map_err(|_| VaultError::Decrypt)
    }
}

/// The vault scope of an event: its conversation, else the event itself.
pub fn conversation_scope(conversation: Option<&Arc<str>>, event_id: &str) -> String {
    match conversation {
        Some(c) => c.to_string(),
        None => format!("event:{event_id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(entry: &SealedEntry) -> VaultRecord {
        serde_json::from_slice(&entry.record).unwrap()
    }

    #[test]
    fn entries_open_only_with_their_key_and_place() {
        let vault = Vault::new(&[7u8; 32]);
        let entry = vault.seal("c1", "<EMAIL_ADDRESS_1>", "bob@example.com");
        let text = String::from_utf8(entry.record.clone()).unwrap();
        assert!(!text.contains("bob@example.com"));
        assert_eq!(vault.open(&record(&entry)).unwrap(), "bob@example.com");

        let other = Vault::new(&[8u8; 32]);
        assert!(matches!(
            other.open(&record(&entry)),
            Err(VaultError::WrongKey { .. })
        ));

        let mut moved = record(&entry);
        moved.placeholder = "<EMAIL_ADDRESS_2>".into();
        assert_eq!(vault.open(&moved), Err(VaultError::Decrypt));
        let mut moved = record(&entry);
        moved.conversation = "c2".into();
        assert_eq!(vault.open(&moved), Err(VaultError::Decrypt));

        let mut flipped = record(&entry);
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut bytes = b64.decode(&flipped.ciphertext).unwrap();
        bytes[0] ^= 1;
        flipped.ciphertext = b64.encode(bytes);
        assert_eq!(vault.open(&flipped), Err(VaultError::Decrypt));
    }
}
