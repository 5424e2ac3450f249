//! `hallucination_check` end to end: adversarial responses that copy the context's words but
//! change one fact, responses without context, the embedding and encoder signals, the grounding
//! topologies through the CLI, and `railyard eval` on HaluEval-format pairs.

use crate::common;

use std::sync::Arc;

use common::operators::{run_operator_on, TOPOLOGY_HEAD};
use railyard::model::{Event, EventKind, Finding};

const CONTEXT: &str = "The Eiffel Tower opened to the public on 31 March 1889. It was designed \
    by the engineering firm of Gustave Eiffel and is 330 metres tall. Visitors may not climb \
    the stairs above the second floor.";

fn response(text: &str, prompt: Option<&str>, context: &[&str]) -> Event {
    let mut event = Event::prompt("r", text);
    event.kind = EventKind::Response;
    event.prompt = prompt.map(Arc::from);
    event.context = context.iter().map(|c| Arc::from(*c)).collect();
    event
}

fn check(extra: &str, events: Vec<Event>) -> Vec<Event> {
    let topology = format!("{TOPOLOGY_HEAD}\n[operators.op]\ntype = \"hallucination_check\"\ninputs = [\"in\"]\n{extra}");
    run_operator_on(&topology, events)
}

/// The validation error of a topology whose `op` is a `hallucination_check` with `body`.
fn config_error(body: &str) -> String {
    let topology = format!(
        "{TOPOLOGY_HEAD}\n[operators.op]\ntype = \"hallucination_check\"\ninputs = [\"in\"]\n{body}"
    );
    railyard::config::Topology::from_toml(&topology, &railyard::config::interpolate::ProcessEnv)
        .map(|_| ())
        .expect_err("invalid")
        .to_string()
}

/// A copy of the repository's topologies and examples where `topology` has run successfully.
fn run_in_workspace(topology: &str) -> tempfile::TempDir {
    let dir = common::workspace();
    let out = common::run_in(dir.path(), &["run", topology]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

/// Runs `railyard eval` on the HaluEval-format fixture with `operator` of `topology` (paths
/// relative to the repository) plus `extra` arguments, asserts that it succeeds and returns its
/// report.
fn eval_fixture_pairs(topology: &str, operator: &str, extra: &[&str]) -> String {
    let fixed = [
        "eval",
        "tests/fixtures/halueval_pairs.jsonl",
        "--topology",
        topology,
        "--operator",
        operator,
    ];
    let output = common::run_in(&common::repo(), &[&fixed[..], extra].concat());
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn labelled<'a>(event: &'a Event, label: &str) -> Option<&'a Finding> {
    event.findings.iter().find(|f| &*f.label == label)
}

/// Each response copies the context's words and changes one fact.
const ADVERSARIAL: &[(&str, &str, &str)] = &[
    (
        "The Eiffel Tower opened to the public on 31 March 1887.",
        "unsupported_number",
        "unsupported number \"1887\"",
    ),
    (
        "The Eiffel Tower opened to the public on 31 May 1889.",
        "unsupported_number",
        "unsupported number \"May\"",
    ),
    (
        "The Eiffel Tower opened to the public on 30 March 1889.",
        "unsupported_number",
        "unsupported number \"30\"",
    ),
    (
        "It was designed by the engineering firm of Antoni Gaudi.",
        "unsupported_entity",
        "unsupported entity \"Antoni Gaudi\"",
    ),
    (
        "The tower is 310 metres tall.",
        "unsupported_number",
        "unsupported number \"310\"",
    ),
    (
        "The Eiffel Tower did not open to the public on 31 March 1889.",
        "negation_mismatch",
        "negation not in the supporting sentence",
    ),
    (
        "Visitors may climb the stairs above the second floor.",
        "negation_mismatch",
        "negation not in the supporting sentence",
    ),
];

#[test]
fn a_swapped_number_date_name_or_negation_is_flagged_with_its_reason() {
    let events: Vec<Event> = ADVERSARIAL
        .iter()
        .map(|(text, _, _)| response(text, None, &[CONTEXT]))
        .collect();
    for (event, (text, label, reason)) in check("", events).iter().zip(ADVERSARIAL) {
        let finding = labelled(event, label)
            .unwrap_or_else(|| panic!("{text:?}: no {label} finding in {:?}", event.findings));
        let why = finding.reason.as_deref().unwrap_or_default();
        assert!(
            why.contains(reason),
            "{text:?}: reason {why:?} lacks {reason:?}"
        );
        assert_eq!(finding.action, railyard::model::Action::Flag);
        for span in &finding.spans {
            assert!(text.is_char_boundary(span.start) && text.is_char_boundary(span.end));
        }
    }
}

#[test]
fn faithful_copies_and_paraphrases_are_not_flagged() {
    let faithful = [
        "The Eiffel Tower opened to the public on 31 March 1889.",
        "Gustave Eiffel's engineering firm designed it; it is 330 metres tall.",
        "Visitors may not climb the stairs above the second floor.",
    ];
    let events = faithful
        .iter()
        .map(|t| response(t, None, &[CONTEXT]))
        .collect();
    for (event, text) in check("", events).iter().zip(faithful) {
        assert!(event.findings.is_empty(), "{text:?}: {:?}", event.findings);
    }
}

/// An answer to a question is judged against the question threshold (chosen on question-answer
/// pairs): an unsupported elaboration that the general threshold lets through is flagged, and
/// right answers, bare or in a sentence, are not.
#[test]
fn an_answer_to_a_question_is_judged_against_its_own_threshold() {
    const QUESTION: &str = "When did the Eiffel Tower open to the public?";
    const ELABORATED: &str =
        "It opened to the public on 31 March 1889, with Gustave Eiffel climbing to the top.";
    let answers = [
        "31 March 1889.",
        "It opened to the public on 31 March 1889.",
        ELABORATED,
    ];
    let events = |prompt: Option<&str>| {
        answers
            .iter()
            .map(|a| response(a, prompt, &[CONTEXT]))
            .collect::<Vec<_>>()
    };
    let asked = check("", events(Some(QUESTION)));
    for (event, answer) in asked.iter().zip(answers) {
        let flagged = labelled(event, "hallucination");
        assert_eq!(
            flagged.is_some(),
            answer == ELABORATED,
            "{answer:?}: {:?}",
            event.findings
        );
        if let Some(finding) = flagged {
            let why = finding.reason.as_deref().unwrap_or_default();
            assert!(why.contains("as an answer to a question"), "{why}");
            assert!(
                finding.provenance.threshold < 0.3,
                "{:?}",
                finding.provenance
            );
        }
    }
    // The same answer without a question, or with `shape = "general"`, meets the general
    // threshold, which it stays under.
    for (extra, prompt) in [("", None), ("shape = \"general\"", Some(QUESTION))] {
        let events = check(extra, events(prompt));
        assert!(
            events
                .iter()
                .all(|e| labelled(e, "hallucination").is_none()),
            "{extra}"
        );
    }
}

#[test]
fn an_unsupported_response_scores_above_a_supported_one() {
    let events = vec![
        response(
            "The Eiffel Tower opened to the public on 31 March 1889.",
            None,
            &[CONTEXT],
        ),
        response(
            "The tower was painted gold in 1925 by Italian artists and now hosts a casino, \
             three cinemas and a football stadium funded by the Bank of Monaco.",
            None,
            &[CONTEXT],
        ),
    ];
    // threshold 0 makes every grounded response report its score.
    let out = check("threshold = 0.0", events);
    let score = |e: &Event| labelled(e, "hallucination").expect("scored").score;
    assert!(
        score(&out[1]) > score(&out[0]),
        "{} vs {}",
        score(&out[1]),
        score(&out[0])
    );
    let reason = labelled(&out[1], "hallucination")
        .unwrap()
        .reason
        .clone()
        .unwrap();
    assert!(reason.contains("low support"), "{reason}");
}

#[test]
fn without_context_the_verdict_says_grounding_was_not_possible() {
    let events = vec![
        response("Refunds are accepted within 30 days of purchase.", Some("What is the refund window for purchases?"), &[]),
        response("I really enjoyed the football match last night.", Some("What is the refund window for purchases?"), &[]),
        response(
            "Refunds are accepted within 30 days of purchase. Refunds are accepted within 14 days of purchase.",
            None,
            &[],
        ),
    ];
    let out = check("", events);
    for event in &out {
        let f = labelled(event, "grounding_unavailable").expect("grounding_unavailable");
        assert!(f
            .reason
            .as_deref()
            .unwrap()
            .contains("grounding was not possible"));
        assert_eq!(f.action, railyard::model::Action::Allow);
    }
    assert!(
        labelled(&out[0], "off_topic").is_none(),
        "{:?}",
        out[0].findings
    );
    assert!(
        labelled(&out[1], "off_topic").is_some(),
        "{:?}",
        out[1].findings
    );
    let contradiction = labelled(&out[2], "self_contradiction").expect("self_contradiction");
    assert_eq!(contradiction.spans.len(), 2);
    assert!(contradiction
        .reason
        .as_deref()
        .unwrap()
        .contains("different numbers"));
}

#[test]
fn prompts_are_not_checked_unless_asked() {
    let event = Event::prompt("p", "Tell me about Antoni Gaudi in 1887.");
    assert!(check("", vec![event.clone()])[0].findings.is_empty());
    let out = check("kinds = [\"prompt\", \"response\"]", vec![event]);
    assert!(labelled(&out[0], "grounding_unavailable").is_some());
}

#[test]
fn unquoted_reasons_carry_offsets_not_text() {
    let events = vec![response(
        "It was designed by the engineering firm of Antoni Gaudi.",
        None,
        &[CONTEXT],
    )];
    let out = check("quote_reasons = false", events);
    let reason = labelled(&out[0], "unsupported_entity")
        .unwrap()
        .reason
        .clone()
        .unwrap();
    assert!(
        !reason.contains("Gaudi") && reason.contains("at 43..55"),
        "{reason}"
    );
}

#[test]
fn the_embedding_signal_runs_with_the_minilm_model() {
    let events = vec![
        response(
            "The Eiffel Tower opened to the public on 31 March 1889.",
            None,
            &[CONTEXT],
        ),
        response(
            "It was designed by the engineering firm of Antoni Gaudi.",
            None,
            &[CONTEXT],
        ),
        response(
            "Refunds are accepted within 30 days.",
            Some("What is the refund window?"),
            &[],
        ),
    ];
    let out = check("threshold = 0.0\n[operators.op.embedding]", events);
    assert!(labelled(&out[0], "hallucination").is_some());
    assert!(labelled(&out[1], "unsupported_entity").is_some());
    let unavailable = labelled(&out[2], "grounding_unavailable").unwrap();
    assert!(unavailable
        .reason
        .as_deref()
        .unwrap()
        .contains("relevance to the prompt"));
}

#[test]
fn a_bad_configuration_lists_every_error() {
    let err = config_error("low_support = 1.5\naction = \"redact\"\nkinds = []\nthresold = 0.3\nshape = \"question\"\n[operators.op.embedding]\noutputs = \"x\"\n[operators.op.encoder]\nprofile = \"dialogue\"\n");
    for expected in [
        "operators.op.low_support",
        "operators.op.action",
        "operators.op.kinds",
        "operators.op.thresold",
        "operators.op.embedding.outputs",
        "operators.op.encoder",
        "operators.op.shape",
    ] {
        assert!(err.contains(expected), "{expected} missing from {err}");
    }
}

#[test]
fn the_grounding_topology_runs_and_eval_scores_pairs() {
    let dir = run_in_workspace("topologies/grounding.toml");
    let by_id: std::collections::HashMap<String, serde_json::Value> =
        common::read_jsonl(&dir.path().join("out/grounding/verdicts.jsonl"))
            .into_iter()
            .map(|v| (v["event_id"].as_str().unwrap().to_string(), v))
            .collect();
    assert_eq!(by_id.len(), 8);
    assert_eq!(by_id["rag-001"]["action"], "allow");
    for id in [
        "rag-002", "rag-003", "rag-004", "rag-006", "rag-007", "rag-008",
    ] {
        assert_eq!(by_id[id]["action"], "flag", "{id}: {}", by_id[id]);
    }

    let stdout = eval_fixture_pairs("topologies/grounding.toml", "grounding", &[]);
    for scorer in ["hallucination_check", "content-word overlap"] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(scorer))
            .unwrap_or_else(|| panic!("{stdout}"));
        let pairwise: f64 = line[scorer.len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!((0.0..=1.0).contains(&pairwise), "{line}");
    }
    assert!(
        stdout.contains("8 pairs; held-out split: 2 pairs"),
        "{stdout}"
    );
}

/// No NLI model ships with railyard (none can be fetched here), so this test drives the pair
/// path with the MiniLM toxicity head standing in for one: it checks the plumbing (pair
/// tokenization, batching, label columns, the blend), not NLI quality.
#[test]
fn an_nli_table_scores_each_claim_against_its_best_sentence() {
    let nli = "[operators.op.nli]\noutput = \"toxicity_logits\"\n\
               labels = [\"toxic\", \"hate\", \"offensive\", \"insult\"]\nactivation = \"sigmoid\"\n\
               entailment = \"toxic\"\ncontradiction = \"hate\"\nweight = 1.0\n";
    let events = vec![response(
        "It was designed by the engineering firm of Antoni Gaudi.",
        None,
        &[CONTEXT],
    )];
    let out = check(&format!("threshold = 0.0\n{nli}"), events);
    let finding = labelled(&out[0], "hallucination").expect("scored");
    // weight 1: the score is 1 - the stand-in's "entailment" probability, within 0..=1.
    assert!((0.0..=1.0).contains(&finding.score), "{}", finding.score);

    let bad = format!(
        "{TOPOLOGY_HEAD}\n[operators.op]\ntype = \"hallucination_check\"\ninputs = [\"in\"]\n\
         [operators.op.nli]\nlabels = [\"a\", \"b\"]\nentailment = \"yes\"\nweight = 2.0\n"
    );
    let err =
        railyard::config::Topology::from_toml(&bad, &railyard::config::interpolate::ProcessEnv)
            .map(|_| ())
            .expect_err("invalid")
            .to_string();
    for expected in [
        "operators.op.nli.entailment",
        "operators.op.nli.weight",
        "operators.op.nli.contradiction",
    ] {
        assert!(err.contains(expected), "{expected} missing from {err}");
    }
}

#[test]
fn an_unknown_encoder_profile_is_named_in_the_error() {
    let err = config_error("[operators.op.encoder]\nprofile = \"poetry\"\n");
    assert!(err.contains("operators.op"), "{err}");
    assert!(err.contains("poetry"), "{err}");
}

/// The learned encoder signal through the CLI: each profile's operator scores pairs, and the
/// features CSV that trains it holds the lexical features and both embeddings.
#[test]
fn the_encoder_topology_scores_pairs_and_writes_its_features() {
    let dir = run_in_workspace("topologies/grounding_encoder.toml");
    let verdicts = common::read_jsonl(&dir.path().join("out/grounding_encoder/verdicts.jsonl"));
    assert_eq!(verdicts.len(), 8);

    let features = dir.path().join("features.csv");
    for profile in ["general", "dialogue", "summarization"] {
        let stdout = eval_fixture_pairs(
            "topologies/grounding_encoder.toml",
            profile,
            &["--features-out", features.to_str().unwrap()],
        );
        assert!(stdout.contains("hallucination_check"), "{stdout}");
        let csv = std::fs::read_to_string(&features).unwrap();
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        assert_eq!(header.len(), 3 + 16 + 2 * 384, "{profile}");
        assert_eq!(header[3 + 16], "response_embedding_0");
        assert_eq!(header[header.len() - 1], "evidence_pair_embedding_383");
        let rows: Vec<Vec<f32>> = lines
            .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
            .collect();
        assert_eq!(rows.len(), 16, "{profile}: two answers per pair");
        for row in &rows {
            // Both embeddings are L2-normalised.
            for part in [&row[19..19 + 384], &row[19 + 384..]] {
                let norm: f32 = part.iter().map(|v| v * v).sum::<f32>().sqrt();
                assert!((norm - 1.0).abs() < 1e-3, "{profile}: norm {norm}");
            }
        }
    }
}

#[test]
fn an_encoder_model_table_must_keep_the_trained_window() {
    let err = config_error("[operators.op.encoder.model]\nthreads = 1\n");
    assert!(
        err.contains("operators.op.encoder.model.max_tokens"),
        "{err}"
    );
}

/// The faithful sentence each ADVERSARIAL response was changed from.
const ORIGINALS: [&str; 7] = [
    "The Eiffel Tower opened to the public on 31 March 1889.",
    "The Eiffel Tower opened to the public on 31 March 1889.",
    "The Eiffel Tower opened to the public on 31 March 1889.",
    "It was designed by the engineering firm of Gustave Eiffel.",
    "The tower is 330 metres tall.",
    "The Eiffel Tower opened to the public on 31 March 1889.",
    "Visitors may not climb the stairs above the second floor.",
];

/// Scores each ADVERSARIAL response and its original under `config` and asserts that the changed
/// one scores higher (negation flips too when `negations_rank`) and keeps its claim finding.
fn assert_changed_facts_score_higher(config: &str, negations_rank: bool) {
    let events = ORIGINALS
        .iter()
        .zip(ADVERSARIAL)
        .flat_map(|(original, (changed, _, _))| {
            [
                response(original, None, &[CONTEXT]),
                response(changed, None, &[CONTEXT]),
            ]
        })
        .collect();
    let out = check(&format!("threshold = 0.0\n{config}"), events);
    for (pair, (changed, label, _)) in out.chunks(2).zip(ADVERSARIAL) {
        let score = |e: &Event| labelled(e, "hallucination").expect("scored").score;
        assert!(
            (*label == "negation_mismatch" && !negations_rank) || score(&pair[1]) > score(&pair[0]),
            "{config}: {changed:?} {} vs faithful {}",
            score(&pair[1]),
            score(&pair[0])
        );
        assert!(labelled(&pair[1], label).is_some(), "{config}: {changed:?}");
    }
}

/// The lexical and embedding combiners are monotone in the unsupported names, numbers and
/// negation flips (scripts/models/train_hallucination.py), so every changed fact, negations
/// included, scores above the faithful copy.
#[test]
fn a_changed_fact_scores_above_the_faithful_copy() {
    assert_changed_facts_score_higher("", true);
    assert_changed_facts_score_higher("[operators.op.embedding]", true);
}

/// The encoder signal reads the answer's form, but a copied sentence with one number, date or
/// name changed must still score above the faithful copy, in every profile. A negation flip
/// moves the embeddings more than its bounded weight can make up for, so its guarantee is the
/// claim-level finding, which every changed fact keeps whatever the score.
#[test]
fn with_the_encoder_signal_a_changed_fact_still_scores_above_the_faithful_copy() {
    for profile in ["general", "dialogue", "summarization"] {
        assert_changed_facts_score_higher(
            &format!("[operators.op.encoder]\nprofile = \"{profile}\""),
            false,
        );
    }
}
