//! From per-token label scores to entity spans: IOB2 tags, windows merged, a Viterbi pass that
//! only allows valid tag sequences (an entity never continues across a line break, which the
//! tokenizer hides from the model), spans widened to whole words and a trailing possessive
//! `'s` dropped.
//!
//! The same rules as `scripts/models/ner_decode.py`, which measured the model.

use std::collections::BTreeMap;

/// One column of a token-classification model's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tag {
    Outside,
    Begin(usize),
    Inside(usize),
}

/// The model's columns as IOB2 tags over entity types.
#[derive(Debug, Clone)]
pub struct TagScheme {
    pub tags: Vec<Tag>,
    /// Entity type names (`PER`, `LOC`, ...), indexed by the tags.
    pub types: Vec<String>,
}

impl TagScheme {
    /// Parses labels like `O`, `B-PER`, `I-PER`; `Err` names the first label that is not IOB2.
    pub fn parse(labels: &[String]) -> Result<TagScheme, String> {
        let mut types: Vec<String> = Vec::new();
        let mut type_index = |name: &str| match types.iter().position(|t| t == name) {
            Some(i) => i,
            None => {
                types.push(name.to_string());
                types.len() - 1
            }
        };
        let mut tags = Vec::with_capacity(labels.len());
        for label in labels {
            let tag = match label.split_once('-') {
                _ if label == "O" => Tag::Outside,
                Some(("B", kind)) if !kind.is_empty() => Tag::Begin(type_index(kind)),
                Some(("I", kind)) if !kind.is_empty() => Tag::Inside(type_index(kind)),
                _ => {
                    return Err(format!(
                        "label `{label}` is not IOB2 (`O`, `B-<TYPE>` or `I-<TYPE>`)"
                    ))
                }
            };
            tags.push(tag);
        }
        if !tags.contains(&Tag::Outside) {
            return Err("the labels need an `O` (outside) label".to_string());
        }
        Ok(TagScheme { tags, types })
    }

    /// Whether tag `next` may follow tag `previous` (`None`: the first token).
    fn allowed(&self, previous: Option<usize>, next: usize) -> bool {
        match (&self.tags[next], previous.map(|p| &self.tags[p])) {
            (Tag::Inside(kind), Some(Tag::Begin(before) | Tag::Inside(before))) => kind == before,
            (Tag::Inside(_), _) => false,
            _ => true,
        }
    }
}

/// A decoded entity: byte span, type index and score (mean probability of its tags).
#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    pub start: usize,
    pub end: usize,
    pub kind: usize,
    pub score: f32,
}

/// Log-softmax of one token's logits.
fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = logits.iter().map(|&x| (x - max).exp()).sum();
    let log_sum = sum.ln() + max;
    logits.iter().map(|&x| x - log_sum).collect()
}

/// One token's scores from the window where it has the most context on both sides.
struct TokenScores {
    start: usize,
    end: usize,
    margin: usize,
    log_probs: Vec<f32>,
}

/// Merges overlapping windows: per token (keyed by its byte span), the window in which the
/// token sits farthest from an edge wins. Returns tokens in text order.
fn merge_windows<'a>(
    windows: impl Iterator<Item = (&'a [Option<(usize, usize)>], &'a [f32])>,
    width: usize,
) -> Vec<TokenScores> {
    let mut tokens: BTreeMap<(usize, usize), TokenScores> = BTreeMap::new();
    for (offsets, logits) in windows {
        let n = offsets.len();
        for (i, offset) in offsets.iter().enumerate() {
            let Some((start, end)) = *offset else {
                continue;
            };
            let Some(row) = logits.get(i * width..(i + 1) * width) else {
                continue;
            };
            if end <= start {
                continue;
            }
            let margin = i.min(n - 1 - i);
            let better = tokens.get(&(start, end)).is_none_or(|t| margin > t.margin);
            if better {
                tokens.insert(
                    (start, end),
                    TokenScores {
                        start,
                        end,
                        margin,
                        log_probs: log_softmax(row),
                    },
                );
            }
        }
    }
    tokens.into_values().collect()
}

/// The best tag path under the scheme's transition rules; a token after a line break starts
/// afresh (as the first token does).
fn viterbi(scheme: &TagScheme, text: &str, tokens: &[TokenScores]) -> Vec<usize> {
    let labels = scheme.tags.len();
    let Some(first) = tokens.first() else {
        return Vec::new();
    };
    let mut score: Vec<f32> = (0..labels)
        .map(|t| {
            if scheme.allowed(None, t) {
                first.log_probs[t]
            } else {
                f32::NEG_INFINITY
            }
        })
        .collect();
    let mut back = vec![vec![0usize; labels]; tokens.len()];
    for (position, token) in tokens.iter().enumerate().skip(1) {
        let gap = tokens[position - 1].end.min(token.start)..token.start;
        let restart = text.get(gap).is_some_and(|g| g.contains('\n'));
        let mut next = vec![f32::NEG_INFINITY; labels];
        for (t, slot) in next.iter_mut().enumerate() {
            let mut best = (f32::NEG_INFINITY, 0);
            let allowed = |p: usize| {
                if restart {
                    scheme.allowed(None, t)
                } else {
                    scheme.allowed(Some(p), t)
                }
            };
            for (p, &s) in score.iter().enumerate() {
                if s > best.0 && allowed(p) {
                    best = (s, p);
                }
            }
            *slot = best.0 + token.log_probs[t];
            back[position][t] = best.1;
        }
        score = next;
    }
    let mut last = (0..labels)
        .max_by(|&a, &b| score[a].total_cmp(&score[b]))
        .unwrap_or(0);
    let mut path = vec![last; tokens.len()];
    for position in (1..tokens.len()).rev() {
        last = back[position][last];
        path[position - 1] = last;
    }
    path
}

/// Grows `start..end` to the word boundaries around it (a name never ends inside a word), then
/// drops a trailing possessive (`'s`, `’s`).
fn widen(text: &str, mut start: usize, mut end: usize) -> (usize, usize) {
    while let Some(c) = text[..start].chars().next_back() {
        if !c.is_alphanumeric() {
            break;
        }
        start -= c.len_utf8();
    }
    while let Some(c) = text[end..].chars().next() {
        if !c.is_alphanumeric() {
            break;
        }
        end += c.len_utf8();
    }
    for possessive in ["'s", "'S", "\u{2019}s", "\u{2019}S"] {
        if text[start..end].ends_with(possessive) && end - start > possessive.len() {
            end -= possessive.len();
            break;
        }
    }
    (start, end)
}

/// Entities in `text` from a per-token output: per window, the tokens' byte offsets and
/// `offsets.len() x width` logits.
pub fn decode<'a>(
    scheme: &TagScheme,
    text: &str,
    windows: impl Iterator<Item = (&'a [Option<(usize, usize)>], &'a [f32])>,
) -> Vec<Entity> {
    let width = scheme.tags.len();
    let tokens = merge_windows(windows, width);
    let path = viterbi(scheme, text, &tokens);
    let mut raw: Vec<(usize, usize, usize, Vec<f32>)> = Vec::new();
    for (token, &tag) in tokens.iter().zip(&path) {
        let probability = token.log_probs[tag].exp();
        match scheme.tags[tag] {
            Tag::Outside => {}
            Tag::Begin(kind) => raw.push((token.start, token.end, kind, vec![probability])),
            Tag::Inside(_) => {
                if let Some(current) = raw.last_mut() {
                    current.1 = token.end;
                    current.3.push(probability);
                }
            }
        }
    }
    let mut entities: Vec<Entity> = Vec::with_capacity(raw.len());
    for (start, end, kind, probabilities) in raw {
        if !text.is_char_boundary(start) || end > text.len() || !text.is_char_boundary(end) {
            continue;
        }
        let (start, end) = widen(text, start, end);
        let score = probabilities.iter().sum::<f32>() / probabilities.len() as f32;
        match entities.last_mut() {
            Some(previous) if previous.kind == kind && previous.end >= start => {
                previous.end = previous.end.max(end);
                previous.score = previous.score.min(score);
            }
            _ => entities.push(Entity {
                start,
                end,
                kind,
                score,
            }),
        }
    }
    entities
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scheme() -> TagScheme {
        let labels: Vec<String> = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        TagScheme::parse(&labels).unwrap()
    }

    /// Logits that put `boost` on one tag per token.
    fn logits(tags: &[usize]) -> Vec<f32> {
        tags.iter()
            .flat_map(|&t| (0..5).map(move |c| if c == t { 4.0 } else { 0.0 }))
            .collect()
    }

    #[test]
    fn schemes_must_be_iob2() {
        assert!(TagScheme::parse(&["O".into(), "B-PER".into()]).is_ok());
        let bad = TagScheme::parse(&["O".into(), "S-PER".into()]).unwrap_err();
        assert!(bad.contains("S-PER"), "{bad}");
        assert!(TagScheme::parse(&["B-PER".into()]).is_err());
    }

    #[test]
    fn spans_map_back_to_bytes_and_whole_words() {
        let text = "Ask María Gonzalez-Ruiz in Leeds.";
        // ask | maria | gonzalez | - | ruiz | in | leeds | .
        let pieces = ["Ask", "María", "Gonzalez", "-", "Ruiz", "in", "Leeds", "."];
        let mut offsets = vec![None];
        let mut at = 0;
        for piece in pieces {
            let start = text[at..].find(piece).unwrap() + at;
            offsets.push(Some((start, start + piece.len())));
            at = start + piece.len();
        }
        offsets.push(None);
        // [CLS] O B-PER I-PER I-PER I-PER O B-LOC O [SEP]
        let tags = logits(&[0, 0, 1, 2, 2, 2, 0, 3, 0, 0]);
        let found = decode(&scheme(), text, std::iter::once((&offsets[..], &tags[..])));
        let spans: Vec<(&str, usize)> = found
            .iter()
            .map(|e| (&text[e.start..e.end], e.kind))
            .collect();
        assert_eq!(spans, vec![("María Gonzalez-Ruiz", 0), ("Leeds", 1)]);
        assert!(found.iter().all(|e| e.score > 0.9));
    }

    #[test]
    fn an_inside_tag_never_starts_an_entity() {
        let text = "Leeds";
        let offsets = [Some((0, 5))];
        // The model prefers I-LOC for the first token; the valid path is B-LOC or O.
        let tags = [0.0, 0.0, 0.0, 2.0, 3.0];
        let found = decode(&scheme(), text, std::iter::once((&offsets[..], &tags[..])));
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].start, found[0].end, found[0].kind), (0, 5, 1));
    }

    #[test]
    fn entities_stop_at_line_breaks_and_possessives() {
        let text = "Leigha Mackay\nLa Sagne's";
        let pieces = ["Leigha", "Mackay", "La", "Sagne", "'", "s"];
        let mut offsets = Vec::new();
        let mut at = 0;
        for piece in pieces {
            let start = text[at..].find(piece).unwrap() + at;
            offsets.push(Some((start, start + piece.len())));
            at = start + piece.len();
        }
        // The model runs one entity over the line break and the possessive.
        let tags = logits(&[1, 2, 2, 2, 2, 2]);
        let found = decode(&scheme(), text, std::iter::once((&offsets[..], &tags[..])));
        let spans: Vec<&str> = found.iter().map(|e| &text[e.start..e.end]).collect();
        assert_eq!(spans, vec!["Leigha Mackay", "La Sagne"]);
    }

    #[test]
    fn a_word_split_in_pieces_is_widened() {
        let text = "Mackay";
        // mack | ##ay, the model tags only the first piece.
        let offsets = [Some((0, 4)), Some((4, 6))];
        let tags = logits(&[1, 0]);
        let found = decode(&scheme(), text, std::iter::once((&offsets[..], &tags[..])));
        assert_eq!((found[0].start, found[0].end), (0, 6));
    }

    #[test]
    fn overlapping_windows_use_the_most_central_token() {
        let text = "a b c d";
        let offsets: Vec<Option<(usize, usize)>> =
            (0..4).map(|i| Some((2 * i, 2 * i + 1))).collect();
        // Window one sees a b c, window two b c d; `c` is at the edge of one, central in two.
        let first = logits(&[0, 0, 1]);
        let second = logits(&[0, 3, 0]);
        let windows = vec![(&offsets[0..3], &first[..]), (&offsets[1..4], &second[..])];
        let found = decode(&scheme(), text, windows.into_iter());
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].start, found[0].end, found[0].kind), (4, 5, 1));
    }
}
