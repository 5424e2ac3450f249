//! Streamed responses through model operators (NER in `pii_detect`, toxicity and injection
//! on the MiniLM heads): they read each sentence once, the sentences of every stream in a
//! batch together, and a release never passes what they have read, so a name split across
//! chunks is redacted as a one-shot scan redacts it and a toxic sentence blocks the stream
//! before any of it is released. `model_windows = "every_scan"` (models on every scan
//! window) is the comparison that shows the tests can fail.

use railyard::model::Action;

use super::streaming::{leaks, one_shot_verdict, released_text, split, stream, StreamRun};

const TEXTS: &[&str] = &[
    "Thanks for waiting. Maria Gonzalez from Lisbon will call you at +44 20 7946 0958 tomorrow. \
     She has your order and will confirm the delivery date. Write to maria.gonzalez@example.com \
     if anything changes before then.",
    "Your account was reviewed by Angela Merkel in Hamburg last week and nothing was wrong with it. \
     The refund goes to card 4111 1111 1111 1111 within three working days.",
    "Here is the summary you asked for! Every detail was checked twice by our team, and the \
     report is attached. Ask John Smith about the numbers",
];

/// Fixed chunkings of a text: every `n` characters.
fn every(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(n).map(|c| c.iter().collect()).collect()
}

fn run(name: &str, pieces: &[String], batch: usize) -> StreamRun {
    let order: Vec<usize> = (0..pieces.len()).collect();
    stream(name, pieces, &order, batch)
}

#[test]
fn with_models_any_chunking_releases_the_one_shot_text_and_leaks_no_name() {
    for text in TEXTS {
        let (expected, values, action, findings) = one_shot_verdict("models", text);
        assert!(
            values
                .iter()
                .any(|v| v.contains("Gonzalez") || v.contains("Merkel") || v.contains("Smith")),
            "the one-shot scan redacts a name: {values:?}"
        );
        let chunkings = [
            every(text, 3),
            every(text, 11),
            every(text, 40),
            split(text, &[0.13, 0.31, 0.32, 0.5, 0.77, 0.9]),
        ];
        for pieces in chunkings {
            for batch in [1, 3] {
                let run = run("models", &pieces, batch);
                assert_eq!(run.action, Some(action), "chunks {pieces:?}");
                assert_eq!(released_text(&run), expected, "chunks {pieces:?}");
                assert_eq!(run.findings, findings, "chunks {pieces:?}");
                let leaked = leaks(&run, &values, &expected);
                assert!(
                    leaked.is_empty(),
                    "leaked {leaked:?} with chunks {pieces:?}"
                );
            }
        }
    }
}

/// Per released record of a run, how far past the last whole sentence of the text fed
/// by then the released text reaches (0 when it stops before; the text has no redaction).
fn past_the_last_sentence(run: &StreamRun, pieces: &[String]) -> Vec<usize> {
    let mut released = 0;
    run.released
        .iter()
        .zip(&run.fed)
        .map(|(record, &fed)| {
            released += record["text"].as_str().unwrap().len();
            let received = pieces[..fed].concat();
            let sentences = match fed == pieces.len() {
                true => received.len(),
                false => received.rfind(". ").map_or(0, |at| at + 2),
            };
            released.saturating_sub(sentences)
        })
        .collect()
}

#[test]
fn a_release_never_passes_the_sentences_the_models_read() {
    let text = "the parcel you ordered last week has left our warehouse and is now on its way \
                to you. it should arrive within three working days, and you can follow every \
                step of its journey from the tracking page in your account at any time of \
                the day or night. thanks again for shopping with us and have a lovely week \
                ahead of you";
    let pieces = every(text, 9);
    let sentences = run("models", &pieces, 1);
    assert_eq!(released_text(&sentences), text);
    assert!(sentences.released.len() >= 3, "released in several records");
    let past = past_the_last_sentence(&sentences, &pieces);
    assert!(
        past.iter().all(|&p| p == 0),
        "released past a sentence: {past:?}"
    );
    // With the models on every scan window, releases go as far as the hold-back allows.
    let every_scan = run("models_every_scan", &pieces, 1);
    assert_eq!(released_text(&every_scan), text);
    let past = past_the_last_sentence(&every_scan, &pieces);
    assert!(past.iter().any(|&p| p > 0), "every_scan: {past:?}");
}

#[test]
fn a_toxic_sentence_split_across_chunks_blocks_before_any_of_it_is_released() {
    let opening = "Here is the summary you asked for, with every detail checked twice by \
                   our team before we sent it. ";
    let toxic = "You are a worthless stupid idiot and everyone hates you. ";
    let text = format!("{opening}{toxic}The rest of the report follows below.");
    // The sentence alone blocks (in the whole text the head's score may fall below its
    // threshold: a sentence window judges each sentence).
    let (_, _, action, _) = one_shot_verdict("models", toxic);
    assert_eq!(
        action,
        Action::Block,
        "a one-shot scan of the sentence blocks it"
    );
    for n in [4, 13, 30] {
        let run = run("models", &every(&text, n), 1);
        assert_eq!(run.blocked.len(), 1, "chunks of {n}");
        assert_eq!(run.blocked[0]["categories"][0], "toxicity");
        let released = released_text(&run);
        assert!(opening.starts_with(&released), "released {released:?}");
        assert_eq!(run.action, Some(Action::Block));
    }
}
