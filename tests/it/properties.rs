//! Property tests over generated inputs: redaction never leaves a detected value in the
//! enriched text (every redaction mode), and every finding's spans are valid byte ranges on
//! UTF-8 character boundaries (every rule-based operator, any Unicode text).

use std::sync::{Arc, OnceLock};

use proptest::prelude::*;
use railyard::config::interpolate::ProcessEnv;
use railyard::config::Topology;
use railyard::model::Action;
use railyard::model::{Event, EventKind};
use railyard::topology::Pipeline;

const MODES: [&str; 4] = ["placeholder", "mask", "drop", "hash"];

/// One pipeline per redaction mode: PII and secrets, redacting.
fn redacting(mode: &str) -> &'static Pipeline {
    static PIPELINES: OnceLock<Vec<Pipeline>> = OnceLock::new();
    let pipelines = PIPELINES.get_or_init(|| {
        let key = std::env::temp_dir().join(format!("railyard-prop-key-{}", std::process::id()));
        std::fs::write(&key, "property-test-key-0123456789").unwrap();
        MODES
            .iter()
            .map(|mode| {
                let text = format!(
                    r#"
name = "props"
[sources.s]
type = "stdin"
[operators.pii]
type = "pii_detect"
inputs = ["s"]
[operators.pii.redaction]
default = "{mode}"
hash_key_file = "{key}"
[operators.secrets]
type = "secret_detect"
inputs = ["s"]
[operators.policy]
type = "decide"
inputs = ["pii", "secrets"]
[sinks.out]
type = "stdout"
inputs = ["policy"]
records = "enriched"
[sinks.dead]
type = "stdout"
records = "dead_letters"
"#,
                    key = key.display()
                )
                .replace(
                    "hash_key_file",
                    if *mode == "hash" {
                        "hash_key_file"
                    } else {
                        "# hash_key_file"
                    },
                );
                Pipeline::build(&Topology::from_toml(&text, &ProcessEnv).unwrap()).unwrap()
            })
            .collect()
    });
    &pipelines[MODES.iter().position(|m| *m == mode).unwrap()]
}

/// Every rule-based operator, grounding included (responses with context).
fn all_rules() -> &'static Pipeline {
    static PIPELINE: OnceLock<Pipeline> = OnceLock::new();
    PIPELINE.get_or_init(|| {
        let lists = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/topologies/lists/banned_topics.txt"
        );
        let text = format!(
            r#"
name = "spans"
[sources.s]
type = "stdin"
[operators.pii]
type = "pii_detect"
inputs = ["s"]
[operators.secrets]
type = "secret_detect"
inputs = ["s"]
[operators.banned]
type = "keyword_block"
inputs = ["s"]
[[operators.banned.lists]]
label = "banned_topic"
terms_file = "{lists}"
[operators.injection]
type = "injection_heuristics"
inputs = ["s"]
[operators.grounding]
type = "hallucination_check"
inputs = ["s"]
[operators.policy]
type = "decide"
inputs = ["pii", "secrets", "banned", "injection", "grounding"]
[sinks.out]
type = "stdout"
inputs = ["policy"]
[sinks.dead]
type = "stdout"
records = "dead_letters"
"#
        );
        Pipeline::build(&Topology::from_toml(&text, &ProcessEnv).unwrap()).unwrap()
    })
}

/// Values the detectors are built to find.
fn sensitive_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,8}(\\.[a-z]{1,6})?@[a-z]{2,8}\\.(com|org|io|de)",
        "\\+44 20 7946 [0-9]{4}",
        "\\(212\\) 555-[0-9]{4}",
        prop::sample::select(vec![
            "4111 1111 1111 1111",
            "4111111111111111",
            "5500-0000-0000-0004",
            "3782 822463 10005",
            "6011000990139424",
        ])
        .prop_map(String::from),
        "(123|234|345|456|567)-(12|34|56)-[0-9]{4}",
        "(10|172|192)\\.[0-9]{1,2}\\.[0-9]{1,3}\\.[0-9]{1,3}",
        "AKIA[A-Z2-7]{16}",
        "ghp_[A-Za-z0-9]{36}",
    ]
}

/// Words around the values: Latin, accented, CJK, emoji, punctuation.
fn filler() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z]{1,10}",
        "[a-zA-Zéüßñ]{1,8}",
        "[漢字かなカナ한국어]{1,4}",
        "[😀🚀👍🏽]{1,2}",
        "[,.;:!?()\"'-]",
        "[0-9]{1,3}",
    ]
}

/// Filler and values; each value follows a word of letters. (Two numbers that abut with only
/// a space between can read as one number: card numbers are still split out by their
/// checksum, other numbers are not; see docs/SECURITY.md.)
fn text_with_values() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            3 => filler(),
            1 => ("[a-zA-Z]{1,8}", sensitive_value()).prop_map(|(w, v)| format!("{w} {v}")),
        ],
        0..40,
    )
    .prop_map(|parts| parts.join(" "))
}

fn event(id: usize, text: &str) -> Event {
    let mut event = Event::prompt(&id.to_string(), text);
    event.conversation_id = Some(Arc::from("conversation"));
    event
}

proptest! {
    // 400 cases per run; PROPTEST_CASES=N for longer runs.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(400)
    ))]

    #[test]
    fn redaction_never_leaves_a_detected_value_in_the_enriched_text(
        texts in prop::collection::vec(text_with_values(), 1..8),
        mode in prop::sample::select(MODES.to_vec()),
    ) {
        let events: Vec<Event> = texts.iter().enumerate().map(|(i, t)| event(i, t)).collect();
        let processed = redacting(mode).process(0, events, true);
        for (p, text) in processed.iter().zip(&texts) {
            let enriched = &p.enriched.as_ref().unwrap().text;
            for finding in &p.verdict.findings {
                if &*finding.operator != "pii" || finding.action < Action::Redact {
                    continue;
                }
                for span in &finding.spans {
                    let value = &text[span.start..span.end];
                    prop_assert!(
                        !enriched.contains(value),
                        "mode {mode}: {} value {value:?} survives in {enriched:?}",
                        finding.label
                    );
                }
            }
        }
    }

    #[test]
    fn spans_are_valid_utf8_ranges_for_any_text(
        text in prop_oneof![text_with_values(), "\\PC{0,300}"],
        context in prop::collection::vec(prop_oneof![text_with_values(), "\\PC{0,120}"], 0..3),
        response in any::<bool>(),
    ) {
        let mut event = event(0, &text);
        if response {
            event.kind = EventKind::Response;
            event.prompt = Some(Arc::from("what happened?"));
            event.context = context.iter().map(|c| Arc::from(c.as_str())).collect();
        }
        let processed = all_rules().process(0, vec![event], true);
        for finding in &processed[0].verdict.findings {
            for span in &finding.spans {
                prop_assert!(span.start <= span.end && span.end <= text.len(),
                    "{}: span {span:?} outside {} bytes", finding.label, text.len());
                prop_assert!(text.is_char_boundary(span.start) && text.is_char_boundary(span.end),
                    "{}: span {span:?} splits a character", finding.label);
            }
        }
    }
}
