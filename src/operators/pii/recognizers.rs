//! The built-in PII recognizers: one table row per entity pattern.
//!
//! A recognizer is a linear-time regex that proposes candidates, a scoring function that
//! validates them (checksums, structure) and gives a base score, and context words that raise
//! or lower that score when they appear near the candidate, as in Presidio. Labels follow
//! Presidio's names so its datasets and tooling line up.

use std::sync::LazyLock;

use regex::Regex;

use super::validators;

/// A street name right after a number on the same line: `3348 84 Cassinia Street`, `0662 3441
/// rue Saint-Antoine`. House numbers and postcodes are not phone numbers.
static STREET_AFTER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^[ ,]+(?:(?:rue|via|calle|rua|avenida|ul\.|chemin|strada)\b|(?:[\p{L}'.\-]+ +){0,3}(?:street|st\.|lane|ln\.?|avenue|ave\.?|road|rd\.?|drive|dr\.|boulevard|blvd\.?|way|court|ct\.|place|square|terrace|crescent|close|gardens|parkway|highway|hwy|alley|row|stream|strasse|straße|gasse|weg|vej|gatan|gata|utca)\b)")
        .expect("valid street pattern")
});

/// Which cheap byte test must pass before a recognizer's regex runs on a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    Digit,
    At,
    Colon,
    /// `://` or `www.`
    UrlMarker,
    /// A `.` right before an ASCII letter or digit: a dotted name (bare domains, Cisco's
    /// dotted MAC addresses); the full stop of a sentence is not one.
    Dotted,
    HexPair,
}

/// Scores a candidate: `None` rejects it, `Some(base)` keeps it with that base score.
pub type ScoreFn = fn(&str, &str, usize) -> Option<f32>;

/// One built-in pattern.
pub struct Recognizer {
    /// The entity label it reports (several rows may share one).
    pub label: &'static str,
    /// Short name of the row, for provenance (`regex`, `luhn`, ...).
    pub detector: &'static str,
    pub pattern: &'static str,
    pub needs: Needs,
    /// Fewest ASCII digits a text must hold for this recognizer to run at all.
    pub min_digits: usize,
    /// Candidate text, whole text, candidate start -> base score or rejection.
    pub score: ScoreFn,
    /// Words near the candidate that make it more likely.
    pub context: &'static [&'static str],
    /// Words near the candidate that make it less likely.
    pub negative_context: &'static [&'static str],
    /// Added when a context word is present (subtracted for negative context).
    pub context_boost: f32,
}

const PHONE_CONTEXT: &[&str] = &[
    "phone",
    "telephone",
    "tel",
    "call",
    "mobile",
    "cell",
    "fax",
    "desk",
    "office",
    "contact",
    "reach",
    "dial",
    "sms",
    "text me",
    "message",
    "whatsapp",
    "answering",
    "landline",
    "hotline",
    "ext",
    "extension",
    "ring",
    "home",
    "work",
    "telefon",
    "tlf",
    "mob",
    "registered",
];
const NUMBER_NEGATIVE: &[&str] = &[
    "order",
    "invoice",
    "tracking",
    "isbn",
    "zip",
    "postcode",
    "postal",
    "account no",
    "serial",
    "version",
    "population",
    "price",
    "total",
];

fn email_score(_: &str, text: &str, start: usize) -> Option<f32> {
    // `scheme://user:password@host` is a URL with credentials, not an address.
    let token_start = text[..start]
        .rfind(char::is_whitespace)
        .map(|i| i + 1)
        .unwrap_or(0);
    (!text[token_start..start].contains("://")).then_some(0.9)
}

fn url_score(candidate: &str, _: &str, _: usize) -> Option<f32> {
    // A URL needs a host with a dot after the scheme or `www.`.
    let host = candidate
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or(candidate);
    let host = host.split(['/', '?', '#']).next().unwrap_or("");
    // `www.microsoft` names no host: a dot must follow the `www.` too.
    let named = host
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("www."))
        .map_or(host, |_| &host[4..]);
    (named.contains('.') && host.len() > 3).then_some(0.6)
}

/// A bare domain (`microsoft.com`, `example.co.uk`): never a part of a URL, an email address
/// or a longer dotted name (the characters around it), and `www.` names are the URL row's.
fn domain_score(candidate: &str, text: &str, start: usize) -> Option<f32> {
    let before = text[..start].chars().next_back();
    let after = text[start + candidate.len()..].chars().next();
    let joined =
        |c: Option<char>| c.is_some_and(|c| matches!(c, '@' | '/' | '.' | ':' | '-' | '_'));
    let after_joined = after.is_some_and(|c| matches!(c, '@' | '/' | ':' | '-' | '_'))
        || text[start + candidate.len()..]
            .strip_prefix('.')
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_alphanumeric()));
    let www = candidate
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("www."));
    (!joined(before) && !after_joined && !www).then_some(0.55)
}

fn ip_score(candidate: &str, text: &str, start: usize) -> Option<f32> {
    if !validators::ip_with_prefix(candidate) {
        return None;
    }
    // `1.2.3.4` right after `v` or `version` is a version string.
    let before = text[..start].trim_end();
    if before.ends_with('v') || before.to_ascii_lowercase().ends_with("version") {
        return None;
    }
    Some(if candidate.contains(':') { 0.7 } else { 0.6 })
}

/// An IPv6 address (compressed, IPv4-embedded, with a zone or prefix) standing alone: not
/// glued to letters or digits (`std::cout`, `fe80::1text`). A bare `::` or `::N` other than
/// the loopback `::1` (a slice in code, `x[::2]`) scores low.
fn ipv6_score(candidate: &str, text: &str, start: usize) -> Option<f32> {
    let before = text[..start].chars().next_back();
    let after = text[start + candidate.len()..].chars().next();
    let glued = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    if glued(before) || glued(after) || before == Some(':') || after == Some(':') {
        return None;
    }
    if !validators::ip_with_prefix(candidate) {
        return None;
    }
    let address = candidate.split(['%', '/']).next().unwrap_or(candidate);
    let short = address
        .strip_prefix("::")
        .is_some_and(|rest| !rest.contains([':', '.']) && rest != "1");
    Some(if short { 0.1 } else { 0.7 })
}

fn mac_score(candidate: &str, _: &str, _: usize) -> Option<f32> {
    validators::mac_address(candidate).then_some(0.7)
}

fn card_score(candidate: &str, text: &str, start: usize) -> Option<f32> {
    if text[..start].ends_with('+') || !validators::credit_card(candidate) {
        return None;
    }
    let groups: Vec<usize> = candidate.split([' ', '-']).map(str::len).collect();
    let grouping_ok = match groups.as_slice() {
        [_] => true,
        [4, 4, 4, rest @ ..] => rest.iter().all(|&g| (1..=4).contains(&g)) && rest.len() <= 2,
        [4, 6, 4 | 5] => true,
        _ => false,
    };
    grouping_ok.then_some(0.9)
}

fn iban_score(candidate: &str, _: &str, _: usize) -> Option<f32> {
    validators::iban(candidate).then_some(0.95)
}

fn ssn_score(candidate: &str, _: &str, _: usize) -> Option<f32> {
    if !validators::us_ssn(candidate) {
        return None;
    }
    // Nine bare digits are an SSN only with context (0.15 + the 0.4 boost passes the default
    // 0.5 threshold; alone they do not): order numbers and ids are nine digits too. Dashes,
    // dots or spaces in the 3-2-4 grouping are an SSN's own shape.
    Some(if candidate.contains('-') {
        0.55
    } else if candidate.contains([' ', '.']) {
        0.5
    } else {
        0.15
    })
}

/// A US ITIN: scored like an SSN by its separators (the two never overlap: an SSN's area is
/// below 900, an ITIN's starts with 9).
fn itin_score(candidate: &str, _: &str, _: usize) -> Option<f32> {
    if !validators::us_itin(candidate) {
        return None;
    }
    Some(if candidate.contains(['-', ' ', '.']) {
        0.55
    } else {
        0.15
    })
}

fn date_score(candidate: &str, _: &str, _: usize) -> Option<f32> {
    let numeric = candidate.chars().next().is_some_and(|c| c.is_ascii_digit())
        && !candidate.chars().any(|c| c.is_ascii_alphabetic());
    if numeric && !validators::date(candidate) {
        return None;
    }
    Some(0.6)
}

fn phone_score(candidate: &str, text: &str, start: usize) -> Option<f32> {
    let main = candidate
        .split(['x', 'X', '#'])
        .next()
        .unwrap_or(candidate)
        .trim_end_matches(|c: char| !c.is_ascii_digit() && c != ')');
    let main = main
        .strip_suffix(" ext.")
        .or_else(|| main.strip_suffix(" ext"))
        .unwrap_or(main);
    let digits: Vec<u8> = main.bytes().filter(u8::is_ascii_digit).collect();
    let n = digits.len();
    if !(6..=15).contains(&n) || digits.iter().all(|&d| d == digits[0]) {
        return None;
    }
    // Preceded by a letter, a digit or a decimal point: part of a larger token.
    if let Some(prev) = text[..start].chars().next_back() {
        if prev.is_alphanumeric()
            || prev == '.'
            || prev == '/'
            || prev == '$'
            || prev == '€'
            || prev == '£'
        {
            return None;
        }
    }
    if looks_like_date_or_ip(main) {
        return None;
    }
    // `36.730350` after `01:08:` is a timestamp fraction; `0.0390508` is a decimal number.
    if text[..start].ends_with(':')
        || (main.matches('.').count() == 1 && !main.contains([' ', '-', '(']))
    {
        return None;
    }
    let end = start + candidate.len();
    let rest_of_line = text[end..].split('\n').next().unwrap_or("");
    if STREET_AFTER.is_match(rest_of_line) {
        return None;
    }
    // Groups of digits, leaving out the country code and a parenthesised trunk like `(0)`.
    let without_trunk = main.replace("(0)", " ");
    let groups: Vec<&str> = without_trunk
        .trim_start_matches('+')
        .split([' ', '-', '.', '(', ')'])
        .filter(|g| !g.is_empty())
        .collect();
    let single_digit_groups = groups.iter().skip(1).filter(|g| g.len() == 1).count();
    if single_digit_groups > 1 {
        return None;
    }
    let international = main.starts_with('+');
    let area_code = main.contains('(');
    let separated = groups.len() > 1;
    let base = if international && n >= 8 {
        0.55
    } else if (area_code && n >= 8) || national_shape(&groups) {
        0.5
    } else if n >= 10 && separated {
        0.45
    } else if n >= 10 {
        0.3
    } else if n >= 8 {
        0.35
    } else if n == 7 {
        0.3
    } else {
        0.15
    };
    Some(base)
}

/// A number written the way a country writes its own phone numbers: North American 3-3-4
/// (`415-555-0132`, area code and exchange not starting with 0 or 1), or a trunk `0` and a
/// short area code followed by the subscriber's digits (`09-7625400`, `090-1234-5678`,
/// `020 7946 0958`).
fn national_shape(groups: &[&str]) -> bool {
    let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    let starts = |g: &str, digits: &str| g.starts_with(|c: char| digits.contains(c));
    let nanp = lens == [3, 3, 4] && starts(groups[0], "23456789") && starts(groups[1], "23456789");
    let digits: usize = lens.iter().sum();
    let trunk = groups.len() >= 2
        && groups[0].starts_with('0')
        && (2..=4).contains(&lens[0])
        && lens[1..].iter().all(|&l| l >= 3)
        && (9..=11).contains(&digits);
    nanp || trunk
}

fn looks_like_date_or_ip(s: &str) -> bool {
    let parts: Vec<&str> = s.split(['-', '/', '.']).collect();
    if parts.len() == 3
        && parts.iter().all(|p| !p.is_empty() && p.len() <= 4)
        && validators::date(s)
    {
        let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
        if lens[0] == 4 || lens[2] == 4 || lens[2] == 2 && s.contains('/') {
            return true;
        }
    }
    parts.len() == 4 && s.contains('.') && validators::ip_address(s)
}

fn passport_score(_: &str, _: &str, _: usize) -> Option<f32> {
    Some(0.1)
}

fn nhs_score(candidate: &str, _: &str, _: usize) -> Option<f32> {
    validators::uk_nhs(candidate).then_some(0.2)
}

fn nif_score(candidate: &str, _: &str, _: usize) -> Option<f32> {
    validators::es_nif(candidate).then_some(0.6)
}

fn btc_score(candidate: &str, _: &str, _: usize) -> Option<f32> {
    validators::bitcoin_address(candidate).then_some(0.9)
}

fn eth_score(candidate: &str, _: &str, _: usize) -> Option<f32> {
    validators::ethereum_address(candidate).then_some(0.7)
}

/// Every built-in recognizer, in priority order (earlier rows win ties).
pub fn builtin() -> Vec<Recognizer> {
    vec![
        Recognizer {
            label: "EMAIL_ADDRESS",
            detector: "regex",
            pattern: r"(?i)[a-z0-9!#$%&'*+/=?^_`{|}~.\-]+@[a-z0-9](?:[a-z0-9\-]{0,62}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9\-]{0,62}[a-z0-9])?)*\.(?:xn--[a-z0-9\-]{2,59}|[a-z]{2,24})\b",
            needs: Needs::At,
            min_digits: 0,
            score: email_score,
            context: &["email", "e-mail", "mail", "contact"],
            negative_context: &[],
            context_boost: 0.1,
        },
        Recognizer {
            label: "CREDIT_CARD",
            detector: "luhn",
            pattern: r"\b\d(?:[ \-]?\d){11,18}\b",
            needs: Needs::Digit,
            min_digits: 12,
            score: card_score,
            context: &[
                "card",
                "credit",
                "debit",
                "visa",
                "mastercard",
                "amex",
                "cc",
                "payment",
                "pan",
            ],
            negative_context: NUMBER_NEGATIVE,
            context_boost: 0.1,
        },
        Recognizer {
            label: "IBAN_CODE",
            detector: "mod97",
            pattern: r"\b[A-Z]{2}\d{2}(?:[ \-]?[A-Z0-9]{4}){2,7}(?:[ \-]?[A-Z0-9]{1,4})?\b",
            needs: Needs::Digit,
            min_digits: 8,
            score: iban_score,
            context: &["iban", "bank", "transfer", "account", "wire", "sepa"],
            negative_context: &[],
            context_boost: 0.05,
        },
        Recognizer {
            label: "US_SSN",
            detector: "ssn_rules",
            pattern: r"\b\d{3}[\- .]?\d{2}[\- .]?\d{4}\b",
            needs: Needs::Digit,
            min_digits: 9,
            score: ssn_score,
            context: &[
                "ssn",
                "social security",
                "social sec",
                "ss#",
                "ssns",
                "tax id",
                "taxpayer",
            ],
            negative_context: &["phone", "call", "fax", "mobile"],
            context_boost: 0.4,
        },
        Recognizer {
            label: "US_ITIN",
            detector: "itin_rules",
            pattern: r"\b9\d{2}[\- .]?\d{2}[\- .]?\d{4}\b",
            needs: Needs::Digit,
            min_digits: 9,
            score: itin_score,
            context: &["itin", "taxpayer", "tax id", "individual taxpayer", "tin"],
            negative_context: &["phone", "call", "fax", "mobile"],
            context_boost: 0.4,
        },
        Recognizer {
            label: "IP_ADDRESS",
            detector: "regex",
            pattern: r"\b(?:\d{1,3}\.){3}\d{1,3}(?:/\d{1,2}\b)?\b",
            needs: Needs::Digit,
            min_digits: 4,
            score: ip_score,
            context: &[
                "ip", "address", "host", "server", "client", "browse", "connect", "ipv4",
            ],
            negative_context: &["version"],
            context_boost: 0.2,
        },
        Recognizer {
            label: "IP_ADDRESS",
            detector: "regex",
            // Groups and `::` compressions, an embedded IPv4 tail, a zone and a prefix length:
            // the candidate is loose, `ipv6_score` parses it.
            // (Nested counted repetitions here made the lazy DFA of the recognizers' set
            // thrash: the default topology lost a third of its speed.)
            pattern: r"(?i)[0-9a-f:]*:[0-9a-f]*:[0-9a-f:]*(?:\.\d{1,3}){0,3}(?:%[0-9a-z]+)?(?:/\d{1,3}\b)?",
            needs: Needs::Colon,
            min_digits: 0,
            score: ipv6_score,
            context: &[
                "ip", "address", "host", "server", "client", "browse", "connect", "ipv6",
            ],
            negative_context: &[],
            context_boost: 0.2,
        },
        Recognizer {
            label: "MAC_ADDRESS",
            detector: "regex",
            pattern: r"(?i)\b[0-9a-f]{2}(?:[:\-][0-9a-f]{2}){5}\b",
            needs: Needs::HexPair,
            min_digits: 0,
            score: mac_score,
            context: &["mac", "hardware", "ethernet", "wifi", "device"],
            negative_context: &[],
            context_boost: 0.2,
        },
        Recognizer {
            label: "MAC_ADDRESS",
            detector: "regex",
            // Cisco's dotted form.
            pattern: r"(?i)\b[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}\b",
            needs: Needs::Dotted,
            min_digits: 0,
            score: mac_score,
            context: &["mac", "hardware", "ethernet", "wifi", "device", "physical"],
            negative_context: &[],
            context_boost: 0.2,
        },
        Recognizer {
            label: "URL",
            detector: "regex",
            pattern: r#"(?i)\b(?:(?:https?|ftp)://|www\.)[^\s<>"'`{}|\\^\[\]]+[^\s<>"'`{}|\\^\[\].,;:!?)]"#,
            needs: Needs::UrlMarker,
            min_digits: 0,
            score: url_score,
            context: &["website", "site", "url", "link", "visit", "homepage"],
            negative_context: &[],
            context_boost: 0.2,
        },
        Recognizer {
            label: "URL",
            detector: "domain",
            pattern: r"(?i-u)\b(?:[a-z0-9][a-z0-9\-]*\.)+(?:com|org|net|edu|gov|mil|io|ai|app|dev|info|biz|co|uk|de|fr|es|nl|eu|ca|au|jp|cn|ru|br|ch|se|dk|fi|pl|nz|ie|tv|xyz|il|in|it|kr|mx|no|pt|tw|za|at|be|cz|gr|hu|ro|sg|hk|ar|cl|tr|ua|us)\b",
            needs: Needs::Dotted,
            min_digits: 0,
            score: domain_score,
            context: &["website", "site", "url", "link", "visit", "homepage"],
            // `Overstock.com Inc.`, `Wix.com Ltd.`: a company named after its domain.
            negative_context: &["inc", "ltd", "plc", "llc", "corp", "group", "gmbh"],
            context_boost: 0.2,
        },
        Recognizer {
            label: "CRYPTO",
            detector: "base58check",
            pattern: r"\b(?:[13][a-km-zA-HJ-NP-Z1-9]{25,34}|bc1[a-z0-9]{25,87})\b",
            needs: Needs::Digit,
            min_digits: 1,
            score: btc_score,
            context: &["bitcoin", "btc", "wallet", "crypto"],
            negative_context: &[],
            context_boost: 0.1,
        },
        Recognizer {
            label: "CRYPTO",
            detector: "regex",
            pattern: r"\b0x[0-9a-fA-F]{40}\b",
            needs: Needs::Digit,
            min_digits: 1,
            score: eth_score,
            context: &["ethereum", "eth", "wallet", "crypto", "address"],
            negative_context: &[],
            context_boost: 0.2,
        },
        Recognizer {
            label: "DATE_TIME",
            detector: "regex",
            pattern: r"\b(?:\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+\-]\d{2}:?\d{2})?)?|\d{1,2}[/\-.]\d{1,2}[/\-.]\d{2,4})\b",
            needs: Needs::Digit,
            min_digits: 4,
            score: date_score,
            context: &["born", "birth", "dob", "birthday", "date", "on"],
            negative_context: &[],
            context_boost: 0.1,
        },
        Recognizer {
            label: "DATE_TIME",
            detector: "regex",
            pattern: r"(?i)\b(?:\d{1,2}(?:st|nd|rd|th)? (?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?,? \d{4}|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.? \d{1,2}(?:st|nd|rd|th)?,? \d{4})\b",
            needs: Needs::Digit,
            min_digits: 4,
            score: date_score,
            context: &["born", "birth", "dob", "birthday", "date"],
            negative_context: &[],
            context_boost: 0.1,
        },
        Recognizer {
            label: "DATE_TIME",
            detector: "regex",
            // Dashed month names: `5-May-2021`, `May-21`, `21-May`, `May-2021` (whole month
            // names or their abbreviations only, so `marathon-21` is not one).
            pattern: r"(?i)\b(?:\d{1,2}-(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)(?:-\d{2}(?:\d{2})?)?|(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)-\d{2}(?:\d{2})?)\b",
            needs: Needs::Digit,
            min_digits: 2,
            score: date_score,
            context: &["born", "birth", "dob", "birthday", "date"],
            negative_context: &[],
            context_boost: 0.1,
        },
        Recognizer {
            label: "US_PASSPORT",
            detector: "context",
            pattern: r"\b[A-Z]?\d{8,9}\b",
            needs: Needs::Digit,
            min_digits: 8,
            score: passport_score,
            context: &["passport", "travel document"],
            negative_context: &[],
            // A named document beats a generic "number" near a phone-shaped run.
            context_boost: 0.8,
        },
        Recognizer {
            label: "US_DRIVER_LICENSE",
            detector: "context",
            pattern: r"\b(?:[A-Za-z]\d{6,12}|[A-Za-z]{2}\d{5,10}|\d{7,9})\b",
            needs: Needs::Digit,
            min_digits: 5,
            score: passport_score,
            context: &["driver", "driving", "license", "licence", "dl", "dmv"],
            negative_context: &[],
            context_boost: 0.8,
        },
        Recognizer {
            label: "UK_NHS",
            detector: "mod11",
            pattern: r"\b\d{3}[ \-]?\d{3}[ \-]?\d{4}\b",
            needs: Needs::Digit,
            min_digits: 10,
            score: nhs_score,
            context: &["nhs", "health service", "national health"],
            negative_context: &[],
            context_boost: 0.7,
        },
        Recognizer {
            label: "ES_NIF",
            detector: "mod23",
            pattern: r"\b[XYZxyz0-9]\d{7}[-]?[A-Za-z]\b",
            needs: Needs::Digit,
            min_digits: 7,
            score: nif_score,
            context: &["dni", "nif", "nie", "documento"],
            negative_context: &[],
            context_boost: 0.3,
        },
        Recognizer {
            label: "PHONE_NUMBER",
            detector: "regex",
            pattern: r"(?:\+\d{1,3}[ .\-]?)?(?:\(\d{1,5}\)[ .\-]?)?\d(?:[ \-.]?\d){5,14}(?:[ ]?(?:x|ext\.?|#)[ ]?\d{1,5})?",
            needs: Needs::Digit,
            min_digits: 6,
            score: phone_score,
            context: PHONE_CONTEXT,
            negative_context: NUMBER_NEGATIVE,
            context_boost: 0.4,
        },
    ]
}

/// All labels the built-in recognizers can report, plus `DATE_OF_BIRTH` and `STREET_ADDRESS`.
pub fn builtin_labels() -> Vec<&'static str> {
    let mut labels: Vec<&'static str> = builtin().iter().map(|r| r.label).collect();
    labels.push("DATE_OF_BIRTH");
    labels.push("STREET_ADDRESS");
    labels.sort_unstable();
    labels.dedup();
    labels
}
