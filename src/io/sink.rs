//! JSONL sinks: files and standard output, buffered, one record per line.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};

use std::path::Path;

use super::rotate::RotatingFile;
use crate::config::{AuditLogConfig, SinkSpec, VaultConfig};

/// Where serialized records are written.
pub trait RecordSink: Send {
    /// Writes records already serialized as JSON lines, each ending in a newline.
    fn write_lines(&mut self, lines: &[u8]) -> io::Result<()>;
    fn flush(&mut self) -> io::Result<()>;
}

struct JsonLines<W: Write + Send> {
    out: BufWriter<W>,
}

impl<W: Write + Send> RecordSink for JsonLines<W> {
    fn write_lines(&mut self, lines: &[u8]) -> io::Result<()> {
        self.out.write_all(lines)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

fn open_file(path: &Path, append: bool) -> io::Result<Box<dyn RecordSink>> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let file: File = OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(path)?;
    Ok(Box::new(JsonLines {
        out: BufWriter::with_capacity(256 * 1024, file),
    }))
}

/// Opens a sink's local file or stream: creates parent directories; truncates plain files
/// unless `append`; audit logs and vault files are always appended to.
pub fn open_sink(spec: &SinkSpec) -> io::Result<Box<dyn RecordSink>> {
    Ok(match spec {
        SinkSpec::File(config) => open_file(&config.path, config.append)?,
        SinkSpec::AuditLog(AuditLogConfig {
            path: Some(path),
            rotate_bytes,
            ..
        }) => Box::new(RotatingFile::open(path, *rotate_bytes)?),
        SinkSpec::Vault(VaultConfig {
            path: Some(path), ..
        }) => open_file(path, true)?,
        SinkSpec::Stdout(_) => Box::new(JsonLines {
            out: BufWriter::with_capacity(64 * 1024, io::stdout()),
        }),
        other => {
            return Err(io::Error::other(format!(
                "topic `{}` is written by the Kafka runtime, not as a file",
                other.topic().unwrap_or_default()
            )))
        }
    })
}
