//! The append-only audit file: never truncated; past `rotate_bytes` the current file is
//! renamed to `PATH.N` (the next free number) and a new one started. Each flush also syncs
//! the data to disk, so an acknowledged input offset never outruns its audit record.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::io::RecordSink;

pub struct RotatingFile {
    path: PathBuf,
    rotate_bytes: u64,
    out: BufWriter<File>,
    written: u64,
}

impl RotatingFile {
    pub fn open(path: &Path, rotate_bytes: u64) -> io::Result<RotatingFile> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let written = file.metadata()?.len();
        Ok(RotatingFile {
            path: path.to_path_buf(),
            rotate_bytes,
            out: BufWriter::with_capacity(256 * 1024, file),
            written,
        })
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_data()?;
        let next = rotated_segments(&self.path)?
            .last()
            .map_or(1, |(n, _)| n + 1);
        let mut target = self.path.clone().into_os_string();
        target.push(format!(".{next}"));
        std::fs::rename(&self.path, &target)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.out = BufWriter::with_capacity(256 * 1024, file);
        self.written = 0;
        Ok(())
    }
}

impl RecordSink for RotatingFile {
    fn write_lines(&mut self, lines: &[u8]) -> io::Result<()> {
        if self.rotate_bytes > 0
            && self.written > 0
            && self.written + lines.len() as u64 > self.rotate_bytes
        {
            self.rotate()?;
        }
        self.out.write_all(lines)?;
        self.written += lines.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_data()
    }
}

/// `PATH.N` files beside `path`, by N.
pub fn rotated_segments(path: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let dir = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => dir.to_path_buf(),
        None => PathBuf::from("."),
    };
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Ok(Vec::new());
    };
    let prefix = format!("{name}.");
    let mut found = Vec::new();
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let file_name = entry.file_name();
        if let Some(n) = file_name
            .to_str()
            .and_then(|f| f.strip_prefix(&prefix))
            .and_then(|n| n.parse::<u64>().ok())
        {
            found.push((n, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// Every file of an audit log in write order: rotated segments, then the current file.
pub fn log_files(path: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = rotated_segments(path)?
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    if path.exists() {
        files.push(path.to_path_buf());
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_every_line_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut file = RotatingFile::open(&path, 4096).unwrap();
        for i in 0..500 {
            file.write_lines(format!("{{\"n\":{i:05}}}\n").as_bytes())
                .unwrap();
        }
        file.flush().unwrap();
        let files = log_files(&path).unwrap();
        assert!(files.len() >= 2, "{files:?}");
        let mut lines = Vec::new();
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap();
            assert!(text.len() <= 4096 + 16);
            lines.extend(text.lines().map(str::to_string));
        }
        let expected: Vec<String> = (0..500).map(|i| format!("{{\"n\":{i:05}}}")).collect();
        assert_eq!(lines, expected);
    }
}
