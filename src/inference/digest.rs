//! File digests: the sha256 of a model file, computed once per process for a file that has
//! not changed (validation checks pins and loading records provenance from the same value).

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

/// What identifies one version of a file without reading it.
type Stamp = (PathBuf, u64, Option<SystemTime>);

fn cache() -> &'static Mutex<HashMap<Stamp, Arc<str>>> {
    static CACHE: OnceLock<Mutex<HashMap<Stamp, Arc<str>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The lowercase hex sha256 of the file's bytes.
pub fn file_sha256(path: &Path) -> std::io::Result<Arc<str>> {
    let meta = std::fs::metadata(path)?;
    let stamp = (
        std::fs::canonicalize(path)?,
        meta.len(),
        meta.modified().ok(),
    );
    if let Some(hex) = cache()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&stamp)
    {
        return Ok(hex.clone());
    }
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    let hex: Arc<str> = Arc::from(hex::encode(hasher.finalize()));
    cache()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(stamp, hex.clone());
    Ok(hex)
}

/// A file a topology loads, with its pin if the topology gives one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFile {
    /// The TOML path of the key naming the file, e.g. `operators.ner.model.path`.
    pub key: String,
    pub file: PathBuf,
    /// The topology's own `sha256` for it, normalized.
    pub pin: Option<String>,
}

impl ModelFile {
    /// The file a table's `key` names, pinned by the table's inline `sha256` when it gives one.
    pub fn pinned(key: String, file: &Path, sha256: Option<&str>) -> ModelFile {
        ModelFile {
            key,
            file: file.to_path_buf(),
            pin: sha256.and_then(normalize_pin),
        }
    }
}

/// `sha256:<first 16 hex digits>` of a file, kept for the process: the provenance version of
/// the findings a head or student file makes.
pub fn provenance_digest(path: &Path) -> Result<&'static str, String> {
    let sha256 = file_sha256(path).map_err(|e| e.to_string())?;
    Ok(Box::leak(
        format!("sha256:{}", &sha256[..16]).into_boxed_str(),
    ))
}

/// Records an error unless the file a table's `key` names exists and the table's inline
/// `sha256`, when given, is a sha256 (`path` is the table's TOML path).
pub fn validate_pinned(
    path: &str,
    key: &str,
    file: &Path,
    sha256: Option<&str>,
    errors: &mut crate::diagnostics::Errors,
) {
    use crate::diagnostics::join;
    if !file.is_file() {
        errors.push(join(path, key), format!("{} not found", file.display()));
    }
    if sha256.is_some_and(|p| normalize_pin(p).is_none()) {
        errors.push(join(path, "sha256"), "expected 64 hex digits");
    }
}

/// A pin as written (`"<64 hex>"` or `"sha256:<64 hex>"`), lowercased without the prefix;
/// `None` when it is not a sha256.
pub fn normalize_pin(pin: &str) -> Option<String> {
    let hex = pin
        .strip_prefix("sha256:")
        .unwrap_or(pin)
        .to_ascii_lowercase();
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_file_gets_a_new_digest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.bin");
        std::fs::write(&path, b"abc").unwrap();
        assert_eq!(
            &*file_sha256(&path).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        std::fs::write(&path, b"abcd").unwrap();
        assert_eq!(
            &*file_sha256(&path).unwrap(),
            "88d4266fd4e6338d13b845fcf289579d209c897823b9217da3e161936f031589"
        );
    }

    #[test]
    fn pins_are_read_with_or_without_their_prefix() {
        let hex = "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";
        let want = Some(hex.to_ascii_lowercase());
        assert_eq!(normalize_pin(hex), want);
        assert_eq!(normalize_pin(&format!("sha256:{hex}")), want);
        assert_eq!(normalize_pin("abc"), None);
    }
}
