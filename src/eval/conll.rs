//! CoNLL-2003-style files for `railyard eval`: one token a line (word first, IOB or IOB2 tag
//! last), a blank line between sentences, `-DOCSTART-` lines skipped. Each sentence becomes a
//! row whose text is the words joined by single spaces and whose spans are its entities.

/// One sentence: its text and entity spans (char offsets, type such as `PER`).
#[derive(Debug, Clone, PartialEq)]
pub struct Sentence {
    pub text: String,
    pub spans: Vec<(usize, usize, String)>,
}

/// Whether `content` looks like CoNLL rather than JSONL (its first line is not a JSON object).
pub fn looks_like_conll(content: &str) -> bool {
    content
        .lines()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| !l.trim_start().starts_with('{'))
}

/// Parses CoNLL text; `Err` gives the 1-based line of a token line without a tag.
pub fn parse(content: &str) -> Result<Vec<Sentence>, (usize, String)> {
    let mut sentences = Vec::new();
    let mut current = Sentence {
        text: String::new(),
        spans: Vec::new(),
    };
    let mut open: Option<(usize, usize, String)> = None;
    let mut chars = 0usize;
    let close = |sentence: &mut Sentence, open: &mut Option<(usize, usize, String)>| {
        if let Some(span) = open.take() {
            sentence.spans.push(span);
        }
    };
    for (number, line) in content.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() || fields[0] == "-DOCSTART-" {
            close(&mut current, &mut open);
            if !current.text.is_empty() {
                sentences.push(std::mem::replace(
                    &mut current,
                    Sentence {
                        text: String::new(),
                        spans: Vec::new(),
                    },
                ));
            }
            chars = 0;
            continue;
        }
        if fields.len() < 2 {
            return Err((number + 1, "expected `WORD ... TAG`".to_string()));
        }
        let (word, tag) = (fields[0], fields[fields.len() - 1]);
        if !current.text.is_empty() {
            current.text.push(' ');
            chars += 1;
        }
        let start = chars;
        current.text.push_str(word);
        chars += word.chars().count();
        match tag.split_once('-') {
            Some((prefix, kind)) if matches!(prefix, "B" | "I") && !kind.is_empty() => {
                let continues = prefix == "I" && open.as_ref().is_some_and(|o| o.2 == kind);
                if continues {
                    if let Some(o) = open.as_mut() {
                        o.1 = chars;
                    }
                } else {
                    close(&mut current, &mut open);
                    open = Some((start, chars, kind.to_string()));
                }
            }
            _ if tag == "O" => close(&mut current, &mut open),
            _ => return Err((number + 1, format!("unknown tag `{tag}`"))),
        }
    }
    close(&mut current, &mut open);
    if !current.text.is_empty() {
        sentences.push(current);
    }
    Ok(sentences)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_and_spans() {
        let content = "-DOCSTART- -X- O O\n\nPeter NNP B-PER\nBlackburn NNP I-PER\nin IN O\nSão NNP B-LOC\nPaulo NNP I-LOC\n\nEU NNP I-ORG\nrejects VBZ O\n";
        let sentences = parse(content).unwrap();
        assert_eq!(sentences.len(), 2);
        assert_eq!(sentences[0].text, "Peter Blackburn in São Paulo");
        assert_eq!(
            sentences[0].spans,
            vec![(0, 15, "PER".to_string()), (19, 28, "LOC".to_string())]
        );
        // IOB1: an I- tag may open an entity.
        assert_eq!(sentences[1].spans, vec![(0, 2, "ORG".to_string())]);
        assert!(looks_like_conll(content));
        assert!(!looks_like_conll("{\"text\": \"x\"}\n"));
        assert_eq!(parse("Peter\n").unwrap_err().0, 1);
        assert!(parse("Peter NNP X-PER\n").is_err());
    }
}
