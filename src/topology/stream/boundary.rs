//! Where a stream's released prefix may end: never inside a word, a run of digits and
//! separators (a card or phone number written in groups), an open quoted value, an open
//! `-----BEGIN` block, or a detected span; always at least the hold-back tail short of the
//! text's end. Model windows end where a sentence does.

use std::sync::OnceLock;

use memchr::memmem::{Finder, FinderRev};

use crate::model::Span;

/// Separators that may sit between the digit groups of one number.
fn number_part(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, '-' | '.' | '(' | ')' | '/' | '+')
}

/// The byte index `chars` characters before the end of `text` (0 when it is shorter).
pub fn hold_back_from(text: &str, chars: usize) -> usize {
    if chars == 0 {
        return text.len();
    }
    text.char_indices()
        .rev()
        .nth(chars - 1)
        .map_or(0, |(at, _)| at)
}

/// The largest position `<= candidate` and `>= floor` where the text may be cut, given the
/// spans found in it; `floor` (the start of the unreleased text) when there is none.
pub fn safe_cut(text: &str, floor: usize, candidate: usize, spans: &[Span]) -> usize {
    let mut cut = candidate.min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    loop {
        if cut <= floor {
            return floor;
        }
        let before = cut;
        cut = at_whitespace(text, floor, cut);
        for span in spans {
            if span.start < cut && span.end > cut {
                cut = span.start.max(floor);
            }
        }
        cut = outside_number(text, floor, cut);
        cut = outside_open_block(text, floor, cut);
        cut = outside_open_quote(text, floor, cut);
        if cut == before {
            return cut;
        }
    }
}

/// The start of the word holding byte `at` (just after a whitespace character), looked for
/// at most `reach` bytes back; the text's start when it lies within reach, else `at`.
pub fn word_start_within(text: &str, at: usize, reach: usize) -> usize {
    let floor = at.saturating_sub(reach);
    match at_whitespace(text, floor, at) {
        start if start > floor || floor == 0 => start,
        _ => at,
    }
}

/// Where the model window from `from` ends: after the last sentence in `text[from..]` (a
/// `.`, `!`, `?` or `…` followed by whitespace, or a line break; the whitespace goes with
/// it), else, once `max_chars` characters wait there, at the last word start; `None` when
/// the window would be empty or must wait for more text.
pub fn sentence_end(text: &str, from: usize, max_chars: usize) -> Option<usize> {
    let rest = &text[from..];
    let mut end = None;
    let mut previous_ends = false;
    for (at, c) in rest.char_indices() {
        if c.is_whitespace() && (previous_ends || c == '\n') {
            end = Some(at + c.len_utf8());
        }
        previous_ends = matches!(c, '.' | '!' | '?' | '…') || (previous_ends && c == '"');
    }
    if let Some(end) = end {
        return Some(from + end);
    }
    rest.chars().nth(max_chars.saturating_sub(1))?;
    match at_whitespace(text, from, text.len()) {
        cut if cut > from => Some(cut),
        _ => Some(text.len()),
    }
}

/// Back to just after a whitespace character (or `floor`).
fn at_whitespace(text: &str, floor: usize, mut cut: usize) -> usize {
    while cut > floor {
        let previous = text[..cut].chars().next_back().expect("cut > 0");
        if previous.is_whitespace() {
            return cut;
        }
        cut -= previous.len_utf8();
    }
    floor
}

/// When the cut sits in whitespace between two parts of a number, back to before the word
/// that ends the earlier part.
fn outside_number(text: &str, floor: usize, cut: usize) -> usize {
    let after = text[cut..].trim_start();
    let before = text[floor..cut].trim_end();
    let joins = after.chars().next().is_some_and(number_part)
        && before.chars().next_back().is_some_and(number_part);
    if !joins {
        return cut;
    }
    // The start of the word before the whitespace.
    let word_end = floor + before.len();
    text[floor..word_end]
        .rfind(char::is_whitespace)
        .map_or(floor, |at| floor + at + 1)
}

/// Before an unterminated `-----BEGIN` (a private key or certificate block).
fn outside_open_block(text: &str, floor: usize, cut: usize) -> usize {
    static BEGIN: OnceLock<FinderRev<'static>> = OnceLock::new();
    static END: OnceLock<Finder<'static>> = OnceLock::new();
    let piece = &text.as_bytes()[floor..cut];
    if memchr::memchr(b'-', piece).is_none() {
        return cut;
    }
    let begin = BEGIN.get_or_init(|| FinderRev::new("-----BEGIN"));
    let end = END.get_or_init(|| Finder::new("-----END"));
    match begin.rfind(piece) {
        Some(at) if end.find(&piece[at..]).is_none() => floor + at,
        _ => cut,
    }
}

/// Before a `"` or `` ` `` opened on the cut's line and not closed before the cut (a quoted
/// password may hold spaces).
fn outside_open_quote(text: &str, floor: usize, cut: usize) -> usize {
    let bytes = text.as_bytes();
    let line_start = memchr::memrchr(b'\n', &bytes[floor..cut]).map_or(floor, |at| floor + at + 1);
    let mut open: Option<(u8, usize)> = None;
    for at in memchr::memchr2_iter(b'"', b'`', &bytes[line_start..cut]) {
        let quote = bytes[line_start + at];
        open = match open {
            Some((q, _)) if q == quote => None,
            Some(o) => Some(o),
            None => Some((quote, line_start + at)),
        };
    }
    open.map_or(cut, |(_, at)| at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(text: &str, candidate: usize) -> &str {
        &text[..safe_cut(text, 0, candidate, &[])]
    }

    #[test]
    fn cuts_only_after_whitespace() {
        assert_eq!(cut("write to user@example.com now", 20), "write to ");
        assert_eq!(cut("abcdef", 3), "");
        assert_eq!(cut("one two", 7), "one ");
    }

    #[test]
    fn keeps_a_grouped_number_together() {
        let text = "card 4111 1111 1111 1111 thanks";
        assert_eq!(cut(text, 15), "card ");
        assert_eq!(cut("call (555) 123-4567 today", 15), "call ");
        // A number after a word is fine to cut before.
        assert_eq!(cut("order 42 shipped", 9), "order 42 ");
    }

    #[test]
    fn holds_open_blocks_and_quotes() {
        let key = "here -----BEGIN RSA PRIVATE KEY----- MIIE abc def";
        assert_eq!(cut(key, key.len()), "here ");
        assert_eq!(cut("password = \"a b c d", 17), "password = ");
        assert_eq!(cut("say \"hi\" to bob", 12), "say \"hi\" to ");
    }

    #[test]
    fn model_windows_end_after_a_sentence() {
        let text = "First one. Second one! third";
        assert_eq!(
            &text[..sentence_end(text, 0, 512).unwrap()],
            "First one. Second one! "
        );
        assert_eq!(sentence_end(text, 23, 512), None);
        // No sentence yet: a long run is cut at its last word start, a short one waits.
        assert_eq!(sentence_end("a b c d", 0, 4), Some(6));
        assert_eq!(sentence_end("a b c d", 0, 100), None);
        assert_eq!(sentence_end("pi is 3.14 or so", 0, 100), None);
        assert_eq!(sentence_end("line\nnext", 0, 100), Some(5));
        assert_eq!(sentence_end("He said \"go.\" Then", 0, 100), Some(14));
    }

    #[test]
    fn never_inside_a_span_nor_below_the_floor() {
        let text = "name John Smith here";
        let spans = [Span::new(5, 15)];
        assert_eq!(safe_cut(text, 0, 11, &spans), 5);
        assert_eq!(safe_cut(text, 8, 11, &spans), 8);
        assert_eq!(hold_back_from("héllo", 2), 4);
        assert_eq!(hold_back_from("hi", 5), 0);
    }
}
