//! Model pins: the sha256 each model file a topology loads must have, from the topology's own
//! `sha256` keys and from its lock file (`<topology>.lock` beside it, written by
//! `railyard models lock`). A file whose digest differs is refused before anything loads it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::topology_error::TopologyError;
use crate::diagnostics::Errors;
use crate::inference::digest::{file_sha256, normalize_pin};
use crate::inference::ModelFile;

/// A topology's lock file: model file (as the topology names it) to sha256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelLock {
    pub path: PathBuf,
    pub files: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LockFile {
    #[serde(default)]
    files: BTreeMap<String, String>,
}

/// Which pins compiling a topology enforces.
#[derive(Debug, Clone, Copy)]
pub enum PinCheck<'a> {
    /// The topology's own pins and, when there is one, every entry of its lock file (then
    /// every model file must be in it).
    Enforce(Option<&'a ModelLock>),
    /// None (`railyard models lock`, which writes the digests anew).
    Skip,
}

impl ModelLock {
    /// Where the lock file of `topology` lives: `ner.toml` -> `ner.lock`.
    pub fn path_for(topology: &Path) -> PathBuf {
        topology.with_extension("lock")
    }

    /// The lock file beside `topology`, if there is one.
    pub fn read(topology: &Path) -> Result<Option<ModelLock>, TopologyError> {
        let path = Self::path_for(topology);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(TopologyError::Read {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        let invalid = |message: String| {
            TopologyError::Invalid(vec![crate::diagnostics::ConfigError {
                path: path.display().to_string(),
                message,
            }])
        };
        let lock: LockFile = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let mut files = BTreeMap::new();
        for (file, pin) in lock.files {
            let hex = normalize_pin(&pin)
                .ok_or_else(|| invalid(format!("files.\"{file}\": `{pin}` is not a sha256")))?;
            files.insert(file, hex);
        }
        Ok(Some(ModelLock { path, files }))
    }

    /// The lock file's text for `files` (the digests of the files as they are now).
    pub fn render(topology: &Path, files: &BTreeMap<String, String>) -> String {
        let mut text = format!(
            "# The sha256 of every model file {} loads, written by `railyard models lock`.\n\
             # `railyard validate` and `run` refuse a file whose digest differs.\n\n[files]\n",
            topology.display()
        );
        for (file, hex) in files {
            text.push_str(&format!("{} = \"sha256:{hex}\"\n", toml_key(file)));
        }
        text
    }
}

fn toml_key(key: &str) -> String {
    toml::Value::String(key.to_string()).to_string()
}

/// Checks each file against its pins; records every mismatch at the file's key. Returns
/// whether all passed (a failed file is never loaded).
pub fn check(files: &[ModelFile], pins: PinCheck, errors: &mut Errors) -> bool {
    let PinCheck::Enforce(lock) = pins else {
        return true;
    };
    let before = errors.len();
    for file in files {
        let name = file.file.display().to_string();
        let locked = lock.map(|l| (l, l.files.get(&name)));
        if file.pin.is_none() && locked.is_none() {
            continue;
        }
        let actual = match file_sha256(&file.file) {
            Ok(hex) => hex,
            Err(e) => {
                errors.push(
                    &file.key,
                    format!("cannot read {name} to check its pin: {e}"),
                );
                continue;
            }
        };
        if let Some(pin) = &file.pin {
            if **pin != *actual {
                errors.push(
                    &file.key,
                    format!(
                        "{name} has sha256:{actual}, but the topology pins sha256:{pin}; \
                         refusing a model file that changed"
                    ),
                );
            }
        }
        match locked {
            Some((lock, Some(pin))) if **pin != *actual => errors.push(
                &file.key,
                format!(
                    "{name} has sha256:{actual}, but {} pins sha256:{pin}; refusing a model \
                     file that changed (if the change is intended, run `railyard models lock` \
                     on the topology)",
                    lock.path.display()
                ),
            ),
            Some((lock, None)) => errors.push(
                &file.key,
                format!(
                    "{name} is not pinned in {} (run `railyard models lock` on the topology)",
                    lock.path.display()
                ),
            ),
            _ => {}
        }
    }
    errors.len() == before
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, name: &str, bytes: &[u8], pin: Option<&str>) -> ModelFile {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        ModelFile {
            key: format!("operators.x.model.{name}"),
            file: path,
            pin: pin.map(str::to_string),
        }
    }

    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn an_inline_pin_refuses_other_bytes_naming_both_digests() {
        let dir = tempfile::tempdir().unwrap();
        let good = file(dir.path(), "good", b"abc", Some(ABC));
        let bad = file(dir.path(), "bad", b"abd", Some(ABC));
        let mut errors = Errors::default();
        assert!(check(
            std::slice::from_ref(&good),
            PinCheck::Enforce(None),
            &mut errors
        ));
        assert!(!check(&[good, bad], PinCheck::Enforce(None), &mut errors));
        let list = errors.into_vec();
        assert_eq!(list.len(), 1, "{list:?}");
        assert_eq!(list[0].path, "operators.x.model.bad");
        assert!(list[0].message.contains(ABC), "{}", list[0].message);
        assert!(list[0].message.contains("sha256:a"), "{}", list[0].message);
    }

    #[test]
    fn a_lock_file_must_list_every_file_with_its_digest() {
        let dir = tempfile::tempdir().unwrap();
        let listed = file(dir.path(), "listed", b"abc", None);
        let missing = file(dir.path(), "missing", b"abc", None);
        let topology = dir.path().join("t.toml");
        let mut digests = BTreeMap::new();
        digests.insert(listed.file.display().to_string(), ABC.to_string());
        std::fs::write(
            ModelLock::path_for(&topology),
            ModelLock::render(&topology, &digests),
        )
        .unwrap();
        let lock = ModelLock::read(&topology).unwrap().expect("written");
        assert_eq!(lock.files, digests, "render and read agree");
        let mut errors = Errors::default();
        assert!(check(
            std::slice::from_ref(&listed),
            PinCheck::Enforce(Some(&lock)),
            &mut errors
        ));
        assert!(!check(
            &[listed.clone(), missing],
            PinCheck::Enforce(Some(&lock)),
            &mut errors
        ));
        assert!(errors.into_vec()[0].message.contains("is not pinned in"));
        std::fs::write(&listed.file, b"tampered").unwrap();
        let mut errors = Errors::default();
        assert!(!check(
            std::slice::from_ref(&listed),
            PinCheck::Enforce(Some(&lock)),
            &mut errors
        ));
        assert!(check(&[listed], PinCheck::Skip, &mut errors));
    }
}
