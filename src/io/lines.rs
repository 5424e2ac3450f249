//! Reading JSONL input line by line with bounded memory.
//!
//! A line longer than the event size limit is not held whole: the reader keeps its first
//! [`crate::codec::DEAD_LETTER_RAW_LIMIT`] bytes (for the dead letter), counts the rest and
//! skips it. Blank lines are skipped; line numbers stay those of the file.

use std::io::{self, BufRead};

use crate::codec::DEAD_LETTER_RAW_LIMIT;

/// One input line.
#[derive(Debug, Clone, PartialEq)]
pub struct RawLine {
    /// 1-based line number in the input.
    pub number: u64,
    /// The line without its terminator; cut short when `size` exceeds the limit.
    pub bytes: Vec<u8>,
    /// Full size of the line in bytes.
    pub size: usize,
}

impl RawLine {
    pub fn oversized(&self, max_bytes: usize) -> bool {
        self.size > max_bytes
    }
}

/// Iterates the lines of a reader.
pub struct LineReader<R> {
    inner: R,
    line: u64,
    max_bytes: usize,
}

impl<R: BufRead> LineReader<R> {
    pub fn new(inner: R, max_bytes: usize) -> Self {
        LineReader {
            inner,
            line: 0,
            max_bytes,
        }
    }

    /// The next non-blank line, or `None` at end of input.
    pub fn next_line(&mut self) -> io::Result<Option<RawLine>> {
        loop {
            let mut bytes = Vec::new();
            let mut size = 0usize;
            let mut saw_any = false;
            loop {
                let buf = self.inner.fill_buf()?;
                if buf.is_empty() {
                    break;
                }
                saw_any = true;
                let (chunk, done) = match memchr::memchr(b'\n', buf) {
                    Some(pos) => (&buf[..pos], Some(pos + 1)),
                    None => (buf, None),
                };
                size += chunk.len();
                let keep = if size > self.max_bytes {
                    DEAD_LETTER_RAW_LIMIT
                } else {
                    self.max_bytes
                };
                if bytes.len() < keep {
                    let room = keep - bytes.len();
                    bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                if size > self.max_bytes && bytes.len() > DEAD_LETTER_RAW_LIMIT {
                    bytes.truncate(DEAD_LETTER_RAW_LIMIT);
                }
                let consumed = done.unwrap_or(buf.len());
                self.inner.consume(consumed);
                if done.is_some() {
                    break;
                }
            }
            if !saw_any {
                return Ok(None);
            }
            self.line += 1;
            if bytes.last() == Some(&b'\r') && size <= self.max_bytes {
                bytes.pop();
                size -= 1;
            }
            if size <= self.max_bytes && bytes.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Ok(Some(RawLine {
                number: self.line,
                bytes,
                size,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(input: &[u8], max: usize) -> Vec<RawLine> {
        let mut reader = LineReader::new(io::BufReader::with_capacity(8, input), max);
        let mut out = Vec::new();
        while let Some(line) = reader.next_line().unwrap() {
            out.push(line);
        }
        out
    }

    #[test]
    fn lines_keep_their_numbers_and_skip_blanks() {
        let lines = read_all(b"a\n\n  \nbb\r\nccc", 100);
        let got: Vec<(u64, &[u8], usize)> = lines
            .iter()
            .map(|l| (l.number, &l.bytes[..], l.size))
            .collect();
        assert_eq!(
            got,
            [(1, &b"a"[..], 1), (4, &b"bb"[..], 2), (5, &b"ccc"[..], 3)]
        );
    }

    #[test]
    fn oversized_lines_are_cut_but_counted() {
        let big = vec![b'x'; DEAD_LETTER_RAW_LIMIT * 3];
        let mut input = big.clone();
        input.extend_from_slice(b"\nnext\n");
        let lines = read_all(&input, 1000);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].size, big.len());
        assert_eq!(lines[0].bytes.len(), DEAD_LETTER_RAW_LIMIT);
        assert!(lines[0].oversized(1000));
        assert_eq!(lines[1].bytes, b"next");
    }
}
