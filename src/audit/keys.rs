//! Secrets from the environment: the audit HMAC key and the vault encryption key. Values are
//! never logged; errors name the variable only.

use std::sync::Arc;

/// Why a key could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KeyError {
    #[error("environment variable `{var}` is not set")]
    Missing { var: String },
    #[error("environment variable `{var}` holds {len} bytes; the key needs at least {min}")]
    TooShort { var: String, len: usize, min: usize },
    #[error("environment variable `{var}` must hold {bytes} bytes as {} hex digits", bytes * 2)]
    NotHex { var: String, bytes: usize },
}

/// Least bytes of an HMAC key (the same rule as the `hash` redaction key).
pub const MIN_HMAC_KEY_BYTES: usize = crate::operators::redaction::MIN_KEY_BYTES;

/// The HMAC key in `var` (its bytes as written), `Ok(None)` when unset.
pub fn hmac_key(var: &str) -> Result<Option<Arc<[u8]>>, KeyError> {
    match std::env::var_os(var) {
        None => Ok(None),
        Some(value) => {
            let bytes = value.as_encoded_bytes();
            if bytes.len() < MIN_HMAC_KEY_BYTES {
                return Err(KeyError::TooShort {
                    var: var.to_string(),
                    len: bytes.len(),
                    min: MIN_HMAC_KEY_BYTES,
                });
            }
            Ok(Some(Arc::from(bytes)))
        }
    }
}

/// A 32-byte key written as 64 hex digits in `var`.
pub fn aes256_key(var: &str) -> Result<[u8; 32], KeyError> {
    let value = std::env::var(var).map_err(|_| KeyError::Missing {
        var: var.to_string(),
    })?;
    let mut key = [0u8; 32];
    hex::decode_to_slice(value.trim(), &mut key).map_err(|_| KeyError::NotHex {
        var: var.to_string(),
        bytes: 32,
    })?;
    Ok(key)
}
