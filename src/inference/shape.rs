//! Token shape ids: the casing cue an uncased tokenizer throws away.
//!
//! Models with a `token_shape` input (railyard's MiniLM NER head) get one id per token,
//! computed from the original text at the token's offsets. The rules are those of
//! `scripts/models/ner_data.py`, which trained the head; `tests/it/inference.rs` checks that both
//! produce the same ids. Id 0 is special tokens and padding; otherwise
//! `1 + casing * 4 + continues_word * 2 + opens_sentence`.

/// Casing classes, in the order of the training script's `CASINGS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Casing {
    Lower = 0,
    Title = 1,
    Upper = 2,
    Mixed = 3,
    Digit = 4,
    Other = 5,
}

fn casing(piece: &str) -> Casing {
    let mut letters = piece
        .chars()
        .filter(|c| c.is_uppercase() || c.is_lowercase());
    let Some(first_letter) = letters.next() else {
        return if piece.bytes().any(|b| b.is_ascii_digit()) {
            Casing::Digit
        } else {
            Casing::Other
        };
    };
    let rest: Vec<char> = letters.collect();
    let all_lower = first_letter.is_lowercase() && rest.iter().all(|c| c.is_lowercase());
    let all_upper = first_letter.is_uppercase() && rest.iter().all(|c| c.is_uppercase());
    if all_lower {
        Casing::Lower
    } else if all_upper {
        if rest.is_empty() {
            Casing::Title
        } else {
            Casing::Upper
        }
    } else if piece.chars().next().is_some_and(char::is_uppercase)
        && rest.iter().all(|c| c.is_lowercase())
    {
        Casing::Title
    } else {
        Casing::Mixed
    }
}

/// True when only spaces, tabs or carriage returns separate `start` from the text start or
/// from a `.`, `!`, `?` or line break.
fn opens_sentence(text: &str, start: usize) -> bool {
    match text[..start]
        .chars()
        .rev()
        .find(|c| !matches!(c, ' ' | '\t' | '\r'))
    {
        None => true,
        Some(c) => matches!(c, '.' | '!' | '?' | '\n'),
    }
}

/// One shape id per token. `offsets` are byte offsets into `text`; `special[i]` marks the
/// tokenizer's added tokens ([CLS], [SEP]).
pub fn shape_ids(text: &str, offsets: &[(usize, usize)], special: &[bool]) -> Vec<i64> {
    let mut ids = Vec::with_capacity(offsets.len());
    let mut previous_end: Option<usize> = None;
    for (&(start, end), &is_special) in offsets.iter().zip(special) {
        if is_special || end <= start || end > text.len() {
            ids.push(0);
            if is_special {
                previous_end = None;
            }
            continue;
        }
        let continues_word = previous_end == Some(start)
            && text[..start]
                .chars()
                .next_back()
                .is_some_and(char::is_alphanumeric)
            && text[start..]
                .chars()
                .next()
                .is_some_and(char::is_alphanumeric);
        let id = 1
            + casing(&text[start..end]) as i64 * 4
            + i64::from(continues_word) * 2
            + i64::from(opens_sentence(text, start));
        ids.push(id);
        previous_end = Some(end);
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn casing_classes() {
        let cases = [
            ("abc", Casing::Lower),
            ("Abc", Casing::Title),
            ("ABC", Casing::Upper),
            ("aBc", Casing::Mixed),
            ("McDonald", Casing::Mixed),
            ("A", Casing::Title),
            ("Csanád", Casing::Title),
            ("ÉCOLE", Casing::Upper),
            ("42", Casing::Digit),
            (".", Casing::Other),
        ];
        for (piece, want) in cases {
            assert_eq!(casing(piece), want, "{piece}");
        }
    }

    #[test]
    fn ids_mark_word_pieces_and_sentence_starts() {
        let text = "Hi. Maria's Mackay";
        // [CLS] hi . maria ' s mack ##ay [SEP]
        let offsets = [
            (0, 0),
            (0, 2),
            (2, 3),
            (4, 9),
            (9, 10),
            (10, 11),
            (12, 16),
            (16, 18),
            (0, 0),
        ];
        let special = [true, false, false, false, false, false, false, false, true];
        let ids = shape_ids(text, &offsets, &special);
        let id = |casing: Casing, continues_word: bool, start: bool| {
            1 + casing as i64 * 4 + i64::from(continues_word) * 2 + i64::from(start)
        };
        assert_eq!(
            ids,
            vec![
                0,
                id(Casing::Title, false, true),
                id(Casing::Other, false, false),
                id(Casing::Title, false, true),
                id(Casing::Other, false, false),
                id(Casing::Lower, false, false),
                id(Casing::Title, false, false),
                id(Casing::Lower, true, false),
                0
            ]
        );
    }
}
