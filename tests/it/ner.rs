//! Names, places and organisations with the MiniLM NER head that `scripts/setup.sh` builds:
//! `ner_detect` on its own, merged into `pii_detect`, allow-lists and suppressing context,
//! long texts across windows, redaction end to end, validation, and `railyard eval` on CoNLL.

use crate::common;

use common::operators::{run_operator, TOPOLOGY_HEAD};
use railyard::model::Event;

fn spans_of<'a>(event: &'a Event, label: &str) -> Vec<&'a str> {
    event
        .findings
        .iter()
        .filter(|f| &*f.label == label)
        .flat_map(|f| f.spans.iter().map(|s| &event.text[s.start..s.end]))
        .collect()
}

fn ner_topology(extra: &str) -> String {
    format!("{TOPOLOGY_HEAD}[operators.op]\ntype = \"ner_detect\"\ninputs = [\"in\"]\n{extra}")
}

#[test]
fn finds_people_places_and_organisations_as_whole_words() {
    let texts = [
        "Maria Gonzalez from Lisbon called Barclays about her account.",
        "Hi Keiran, I'm contacting you about a problem with my card.",
        "Please summarise the attached quarterly report in three bullet points.",
        "Søren Kleist moved to København last year.",
    ];
    let events = run_operator(&ner_topology(""), &texts);
    assert_eq!(spans_of(&events[0], "PERSON"), vec!["Maria Gonzalez"]);
    assert_eq!(spans_of(&events[0], "LOCATION"), vec!["Lisbon"]);
    assert_eq!(spans_of(&events[0], "ORGANIZATION"), vec!["Barclays"]);
    // Punctuation after a name is not part of it.
    assert_eq!(spans_of(&events[1], "PERSON"), vec!["Keiran"]);
    assert!(events[2].findings.is_empty(), "{:?}", events[2].findings);
    assert_eq!(spans_of(&events[3], "PERSON"), vec!["Søren Kleist"]);
    assert_eq!(spans_of(&events[3], "LOCATION"), vec!["København"]);
    let finding = &events[0].findings[0];
    assert_eq!(finding.provenance.detector, "onnx_ner");
    assert!(finding.provenance.version.starts_with("sha256:"));
}

#[test]
fn a_name_in_a_later_window_of_a_long_text_is_found() {
    let filler = "The committee reviewed the quarterly budget and approved the plan. ".repeat(30);
    let text = format!("{filler}The plan was signed by Angela Merkel in Hamburg.");
    let events = run_operator(&ner_topology(""), &[&text]);
    assert_eq!(spans_of(&events[0], "PERSON"), vec!["Angela Merkel"]);
    assert_eq!(spans_of(&events[0], "LOCATION"), vec!["Hamburg"]);
}

#[test]
fn allow_lists_and_context_words_suppress_entities() {
    let texts = [
        "Barack Obama spoke with Maria Gonzalez in Chicago.",
        "Take the first left onto Baker Street and ask for Maria Gonzalez.",
        "Our product Jasper works with Maria Gonzalez's team.",
    ];
    let events = run_operator(
        &ner_topology(
            "allow = [\"barack obama\"]\n\
             suppress = { LOCATION = [\"in\"] }\n\
             entities = { PER = \"PERSON\", LOC = \"LOCATION\" }\n",
        ),
        &texts,
    );
    assert_eq!(spans_of(&events[0], "PERSON"), vec!["Maria Gonzalez"]);
    assert!(
        spans_of(&events[0], "LOCATION").is_empty(),
        "suppressed by `in`"
    );
    // A street name is an address, not a person or a place.
    assert_eq!(spans_of(&events[1], "PERSON"), vec!["Maria Gonzalez"]);
    assert!(spans_of(&events[1], "LOCATION").is_empty());
    // ORG is not mapped, so never reported.
    assert!(events
        .iter()
        .all(|e| spans_of(e, "ORGANIZATION").is_empty()));
}

#[test]
fn pii_detect_merges_model_entities_with_pattern_findings() {
    let topology = format!(
        "{TOPOLOGY_HEAD}[operators.op]\ntype = \"pii_detect\"\ninputs = [\"in\"]\n\
         [operators.op.ner]\nallow = [\"Acme\"]\n"
    );
    let texts = [
        "Maria Gonzalez (maria.gonzalez@example.com, 4111 1111 1111 1111) lives in Lisbon.",
        "Write to Peter.Blackburn@example.org for details.",
    ];
    let events = run_operator(&topology, &texts);
    assert_eq!(spans_of(&events[0], "PERSON"), vec!["Maria Gonzalez"]);
    assert_eq!(spans_of(&events[0], "LOCATION"), vec!["Lisbon"]);
    assert_eq!(
        spans_of(&events[0], "EMAIL_ADDRESS"),
        vec!["maria.gonzalez@example.com"]
    );
    assert_eq!(
        spans_of(&events[0], "CREDIT_CARD"),
        vec!["4111 1111 1111 1111"]
    );
    // Inside an email the validated pattern wins over any name the model sees in it.
    assert_eq!(
        spans_of(&events[1], "EMAIL_ADDRESS"),
        vec!["Peter.Blackburn@example.org"]
    );
    assert!(spans_of(&events[1], "PERSON").is_empty());
    // Model entities record the model's digest; pattern findings the crate version.
    let provenance = |label: &str| {
        let f = events[0]
            .findings
            .iter()
            .find(|f| &*f.label == label)
            .unwrap();
        (f.provenance.detector, f.provenance.version)
    };
    assert_eq!(provenance("PERSON").0, "onnx_ner");
    assert!(provenance("PERSON").1.starts_with("sha256:"));
    assert_eq!(provenance("EMAIL_ADDRESS").1, env!("CARGO_PKG_VERSION"));
    for event in &events {
        let mut spans: Vec<_> = event
            .findings
            .iter()
            .flat_map(|f| f.spans.clone())
            .collect();
        spans.sort_by_key(|s| s.start);
        assert!(
            spans.windows(2).all(|w| w[0].end <= w[1].start),
            "findings overlap: {spans:?}"
        );
    }
}

#[test]
fn names_are_redacted_in_enriched_records() {
    let dir = common::workspace();
    std::fs::write(
        dir.path().join("in.jsonl"),
        "{\"id\":\"n1\",\"text\":\"Please update the file of Maria Gonzalez from Lisbon.\"}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("ner.toml"),
        r#"
name = "ner"
[sources.in]
type = "file"
path = "in.jsonl"
[operators.pii]
type = "pii_detect"
inputs = ["in"]
# Places are flagged by default; this deployment redacts them too.
actions = { LOCATION = "redact" }
[operators.pii.ner]
[operators.policy]
type = "decide"
inputs = ["pii"]
[sinks.enriched]
type = "file"
inputs = ["policy"]
path = "out/enriched.jsonl"
records = "enriched"
[sinks.dead]
type = "file"
path = "out/dead.jsonl"
records = "dead_letters"
"#,
    )
    .unwrap();
    let out = common::run_in(dir.path(), &["run", "ner.toml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records = common::read_jsonl(&dir.path().join("out/enriched.jsonl"));
    let text = records[0]["text"].as_str().unwrap();
    assert!(
        !text.contains("Maria") && !text.contains("Gonzalez"),
        "{text}"
    );
    assert!(!text.contains("Lisbon"), "{text}");
    assert_eq!(
        text,
        "Please update the file of <PERSON_1> from <LOCATION_1>."
    );
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(
        !logs.contains("Gonzalez"),
        "logs must not carry detected values"
    );
}

#[test]
fn bad_ner_tables_list_every_error() {
    let topology = format!(
        "{TOPOLOGY_HEAD}[operators.op]\ntype = \"pii_detect\"\ninputs = [\"in\"]\n\
         [operators.op.ner]\nlabels = [\"O\", \"B-PER\", \"S-PER\"]\nthreshold = 2.0\n\
         actions = {{ PERSON = \"block\" }}\n"
    );
    let err = railyard::config::Topology::from_toml(
        &topology,
        &railyard::config::interpolate::ProcessEnv,
    )
    .expect_err("invalid")
    .to_string();
    for expected in [
        "operators.op.ner.labels",
        "S-PER",
        "operators.op.ner.threshold",
        "operators.op.ner.actions",
    ] {
        assert!(err.contains(expected), "missing {expected} in:\n{err}");
    }

    let wrong_output = ner_topology("output = \"toxicity_logits\"\n");
    let err = railyard::config::Topology::from_toml(
        &wrong_output,
        &railyard::config::interpolate::ProcessEnv,
    )
    .expect_err("a per-text output is refused")
    .to_string();
    assert!(err.contains("not per token"), "{err}");
}

#[test]
fn eval_scores_conll_files() {
    let dir = common::workspace();
    std::fs::write(
        dir.path().join("sample.conll"),
        "-DOCSTART- -X- O O\n\nMaria NNP B-PER\nGonzalez NNP I-PER\nflew VBD O\nto TO O\nLisbon NNP B-LOC\n. . O\n\n\
         Barclays NNP B-ORG\nhired VBD O\nPeter NNP B-PER\nBlackburn NNP I-PER\n. . O\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("ner.toml"), ner_topology("")).unwrap();
    let out = common::run_in(
        dir.path(),
        &[
            "eval",
            "sample.conll",
            "--topology",
            "ner.toml",
            "--operator",
            "op",
            "--labels",
            "PERSON,LOCATION,ORGANIZATION",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let person = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("PERSON"))
        .unwrap_or_else(|| panic!("no PERSON row in:\n{stdout}"));
    assert!(person.contains("2"), "{person}");
    assert!(
        stdout.contains("LOCATION") && stdout.contains("ORGANIZATION"),
        "{stdout}"
    );
}
