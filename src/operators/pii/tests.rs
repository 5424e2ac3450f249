//! Table-driven tests of the PII detector: one row per entity shape, positive and negative.

use super::*;

fn detector() -> PiiDetector {
    PiiConfig::default().build("pii").unwrap()
}

/// (text, expected (label, value) pairs). Values are what the span must cover exactly.
const CASES: &[(&str, &[(&str, &str)])] = &[
    (
        "write to ann.lee+news@mail.example.co.uk today",
        &[("EMAIL_ADDRESS", "ann.lee+news@mail.example.co.uk")],
    ),
    ("no email here: user at example dot com", &[]),
    ("postgres://app:pw@db.internal/x", &[]),
    (
        "Please call me at +44 20 7946 0958.",
        &[("PHONE_NUMBER", "+44 20 7946 0958")],
    ),
    (
        "Call 415-555-0132 after 5pm",
        &[("PHONE_NUMBER", "415-555-0132")],
    ),
    (
        "Mobile: (07700) 900123",
        &[("PHONE_NUMBER", "(07700) 900123")],
    ),
    (
        "fax 01.23.45.67.89 anytime",
        &[("PHONE_NUMBER", "01.23.45.67.89")],
    ),
    ("The population grew to 12345678 people", &[]),
    (
        "Desk: +46 (0)8 515 691 54",
        &[("PHONE_NUMBER", "+46 (0)8 515 691 54")],
    ),
    ("call a taxi to 3348 84 Cassinia Street", &[]),
    ("call a taxi to 0662 3441 rue Saint-Antoine", &[]),
    ("phone ratio 0.0390508 today", &[]),
    (
        "Date: 1999-03-23 01:08:36.730350",
        &[("DATE_TIME", "1999-03-23 01:08:36.730350")],
    ),
    ("Order number 1234567 shipped", &[]),
    // Found by the redaction property test: a card after another digit group was missed
    // (and its value survived the redaction of the same card elsewhere in the text).
    (
        "0 4111 1111 1111 1111 and 7 5500-0000-0000-0004",
        &[
            ("CREDIT_CARD", "4111 1111 1111 1111"),
            ("CREDIT_CARD", "5500-0000-0000-0004"),
        ],
    ),
    (
        "3782 822463 10005 3782 822463 10005",
        &[
            ("CREDIT_CARD", "3782 822463 10005"),
            ("CREDIT_CARD", "3782 822463 10005"),
        ],
    ),
    (
        "card 4111 1111 1111 1111 expires",
        &[("CREDIT_CARD", "4111 1111 1111 1111")],
    ),
    (
        "amex 3782-822463-10005 ok",
        &[("CREDIT_CARD", "3782-822463-10005")],
    ),
    ("not a card 4111 1111 1111 1112", &[]),
    (
        "IBAN GB82 WEST 1234 5698 7654 32 please",
        &[("IBAN_CODE", "GB82 WEST 1234 5698 7654 32")],
    ),
    ("IBAN GB82 WEST 1234 5698 7654 33 please", &[]),
    (
        "my social security number is 536-22-8726",
        &[("US_SSN", "536-22-8726")],
    ),
    ("ssn 666-22-8726 is invalid", &[]),
    ("My SSN is 536228726", &[("US_SSN", "536228726")]),
    (
        "social security number 536.22.8726",
        &[("US_SSN", "536.22.8726")],
    ),
    ("order 536228726 shipped", &[]),
    ("visit microsoft.com today", &[("URL", "microsoft.com")]),
    (
        "the portal example.co.uk is down",
        &[("URL", "example.co.uk")],
    ),
    (
        "mail ana@example.com now",
        &[("EMAIL_ADDRESS", "ana@example.com")],
    ),
    (
        "go to www.example.com/a now",
        &[("URL", "www.example.com/a")],
    ),
    ("I used Node.js and setup.py for e.g. tests", &[]),
    (
        "IBAN DE89-3704-0044-0532-0130-00 please",
        &[("IBAN_CODE", "DE89-3704-0044-0532-0130-00")],
    ),
    (
        "server at 10.20.30.40 is down",
        &[("IP_ADDRESS", "10.20.30.40")],
    ),
    ("upgrade to v1.2.3.4 now", &[]),
    (
        "host fe80::1ff:fe23:4567:890a is up",
        &[("IP_ADDRESS", "fe80::1ff:fe23:4567:890a")],
    ),
    ("the meeting is at 12:30", &[]),
    (
        "device 3C:22:FB:9A:10:7E joined",
        &[("MAC_ADDRESS", "3C:22:FB:9A:10:7E")],
    ),
    (
        "see https://example.com/a?b=1.",
        &[("URL", "https://example.com/a?b=1")],
    ),
    (
        "born on 04/12/1985 in Leeds",
        &[("DATE_OF_BIRTH", "04/12/1985")],
    ),
    (
        "released 2010-12-17 15:05:18",
        &[("DATE_TIME", "2010-12-17 15:05:18")],
    ),
    (
        "passport number 123456789 please",
        &[("US_PASSPORT", "123456789")],
    ),
    ("the number 123456789 alone", &[]),
    ("NHS number 943 476 5919", &[("UK_NHS", "943 476 5919")]),
    (
        "send BTC to 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
        &[("CRYPTO", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa")],
    ),
    ("DNI 12345678Z", &[("ES_NIF", "12345678Z")]),
    (
        "Ünïcödé text with ann@b.io after",
        &[("EMAIL_ADDRESS", "ann@b.io")],
    ),
    // IPv6 in its compressed, IPv4-embedded, zoned and prefixed forms; not inside code.
    (
        "Mapped: ::ffff:192.168.1.1 and fe80::1%eth0 on 2001:db8::/32",
        &[
            ("IP_ADDRESS", "::ffff:192.168.1.1"),
            ("IP_ADDRESS", "fe80::1%eth0"),
            ("IP_ADDRESS", "2001:db8::/32"),
        ],
    ),
    ("std::cout << x[::2] at 12:30:45 from fe80::1text", &[]),
    ("two compressions 2001::db8::1 are not one", &[]),
    ("Route is 10.0.0.0/8.", &[("IP_ADDRESS", "10.0.0.0/8")]),
    (
        "Cisco MAC: 0012.3456.789A",
        &[("MAC_ADDRESS", "0012.3456.789A")],
    ),
    ("Broadcast: FF:FF:FF:FF:FF:FF", &[]),
    ("ITIN 911-70-1234 on file", &[("US_ITIN", "911-70-1234")]),
    ("SSN 078 05 1123 on file", &[("US_SSN", "078 05 1123")]),
    (
        "Today is 5-May-2021, not 2024-03-15T14:30:00.123Z",
        &[
            ("DATE_TIME", "5-May-2021"),
            ("DATE_TIME", "2024-03-15T14:30:00.123Z"),
        ],
    ),
    ("the marathon-21 route", &[]),
    (
        "My Japanese number is 090-1234-5678",
        &[("PHONE_NUMBER", "090-1234-5678")],
    ),
    ("ask www.microsoft for it", &[]),
    ("my domains: google.co.il", &[("URL", "google.co.il")]),
    (
        "this is an iban VG96 VPVG 0000 0123 4567 8901 X in a sentence",
        &[("IBAN_CODE", "VG96 VPVG 0000 0123 4567 8901")],
    ),
    (
        "a@xn--d1acufc.xn--p1ai",
        &[("EMAIL_ADDRESS", "a@xn--d1acufc.xn--p1ai")],
    ),
];

#[test]
fn detection_table() {
    let d = detector();
    for (text, expected) in CASES {
        let found: Vec<(String, String)> = d
            .detect(text)
            .into_iter()
            .map(|(label, span, _)| (label.to_string(), text[span.start..span.end].to_string()))
            .collect();
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(l, v)| (l.to_string(), v.to_string()))
            .collect();
        assert_eq!(found, expected, "text: {text}");
    }
}

#[test]
fn spans_are_on_char_boundaries() {
    let d = detector();
    for (text, _) in CASES {
        for (_, span, _) in d.detect(text) {
            assert!(text.is_char_boundary(span.start) && text.is_char_boundary(span.end));
        }
    }
}

#[test]
fn entity_selection_and_thresholds() {
    let only_email = PiiConfig {
        entities: vec!["EMAIL_ADDRESS".into()],
        ..PiiConfig::default()
    }
    .build("pii")
    .unwrap();
    let labels: Vec<String> = only_email
        .detect("a@b.io and 10.0.0.1")
        .into_iter()
        .map(|(l, _, _)| l.to_string())
        .collect();
    assert_eq!(labels, ["EMAIL_ADDRESS"]);

    let strict_ip = PiiConfig {
        thresholds: [("IP_ADDRESS".to_string(), 0.95)].into(),
        ..PiiConfig::default()
    }
    .build("pii")
    .unwrap();
    assert!(strict_ip.detect("server 10.0.0.1").is_empty());
}

#[test]
fn custom_regex_and_dictionary_entities() {
    let config: PiiConfig = toml::from_str(
        r#"
        [[custom]]
        label = "EMPLOYEE_ID"
        pattern = "\\bEMP-\\d{6}\\b"
        [[custom]]
        label = "PROJECT"
        terms = ["Project Falcon", "Bluebird"]
        score = 0.4
        context = ["codename"]
        context_boost = 0.3
        "#,
    )
    .unwrap();
    let d = config.build("pii").unwrap();
    let found = |text: &str| -> Vec<String> {
        d.detect(text)
            .into_iter()
            .map(|(l, s, _)| format!("{l}={}", &text[s.start..s.end]))
            .collect()
    };
    assert_eq!(found("ticket EMP-123456"), ["EMPLOYEE_ID=EMP-123456"]);
    assert_eq!(
        found("codename PROJECT FALCON is late"),
        ["PROJECT=PROJECT FALCON"]
    );
    assert!(
        found("Bluebird is late").is_empty(),
        "below threshold without context"
    );
    assert!(found("bluebirds sing").is_empty(), "word boundaries");
}

#[test]
fn extra_context_words_raise_scores() {
    let plain = detector();
    assert!(plain.detect("the beeper 555 0134 please").is_empty());
    let config = PiiConfig {
        context: [("PHONE_NUMBER".to_string(), vec!["beeper".to_string()])].into(),
        ..PiiConfig::default()
    };
    let d = config.build("pii").unwrap();
    assert_eq!(d.detect("the beeper 555 0134 please").len(), 1);
}

#[test]
fn invalid_options_are_all_reported() {
    let config: PiiConfig = toml::from_str(
        r#"
        entities = ["EMAIL", "PHONE_NUMBER"]
        threshold = 1.5
        [thresholds]
        NOPE = 0.5
        [[custom]]
        label = "bad label"
        pattern = "(unclosed"
        "#,
    )
    .unwrap();
    let mut errors = Errors::default();
    config.validate("operators.pii", &mut errors);
    let paths: Vec<String> = errors.iter().map(|e| e.path.clone()).collect();
    assert_eq!(
        paths,
        [
            "operators.pii.entities[0]",
            "operators.pii.threshold",
            "operators.pii.thresholds.NOPE",
            "operators.pii.custom[0].label",
            "operators.pii.custom[0].pattern",
        ]
    );
}

#[test]
fn findings_group_spans_by_label() {
    let d = detector();
    let mut event = Event::prompt("1", "a@b.io, c@d.io and 10.0.0.1 server");
    d.inspect(&mut event).unwrap();
    let summary: Vec<(String, usize)> = event
        .findings
        .iter()
        .map(|f| (f.label.to_string(), f.spans.len()))
        .collect();
    assert_eq!(
        summary,
        [
            ("EMAIL_ADDRESS".to_string(), 2),
            ("IP_ADDRESS".to_string(), 1)
        ]
    );
}

#[test]
fn street_addresses_are_reported_when_asked_for() {
    let text = "call a taxi to 3348 84 Cassinia Street, Apt. 4 please";
    let labels = |config: PiiConfig| -> Vec<String> {
        let detector = config.build("pii").unwrap();
        detector
            .detect(text)
            .into_iter()
            .map(|(label, span, _)| format!("{label}:{}", &text[span.start..span.end]))
            .collect()
    };
    assert!(labels(PiiConfig::default()).is_empty());
    let on = PiiConfig {
        addresses: true,
        ..PiiConfig::default()
    };
    assert_eq!(
        labels(on),
        vec!["STREET_ADDRESS:3348 84 Cassinia Street, Apt. 4".to_string()]
    );
}
