//! `STREET_ADDRESS`: street addresses in the shapes people write them, found by patterns with
//! context. A house number and a street name with a street type (`221B Baker Street`,
//! `50 Point Walter Road, Apt. 4`); continental forms with the number after the street
//! (`Norrbyvägen 21`, `Rue de la Sarthe 45`, `ul. Asnyka 82`); a building number, a street
//! name and a number (`2444 Auenweg 85`); a name and a number right after an address phrase
//! ("lives on Strepestraat 143"); P.O. boxes and US military addresses (`PSC 1708, Box 0531
//! APO AP 05777`). Unit lines (`Suite 394`, `Apt. 079`) join the address. Month and weekday
//! names never make a street (`12 March 2020`). Run only on texts with a digit and a sign of
//! an address, outside the recognizers' regex set (these patterns would grow its DFA); off
//! unless `pii_detect` asks for it (`addresses = true`).

use std::sync::LazyLock;

use regex::Regex;

use crate::operators::patterns::fast_regex;

const SUFFIX: &str = r"(?:Street|St\.?|Avenue|Ave\.?|Road|Rd\.?|Lane|Ln\.?|Drive|Dr\.?|Boulevard|Blvd\.?|Way|Court|Ct\.?|Place|Pl\.?|Square|Sq\.?|Terrace|Crescent|Close|Parkway|Pkwy\.?|Highway|Hwy\.?|Circle|Trail|Row|Walk|Hill|Hills|Mount|Neck|Springs?|Heights|Gardens|Grove|Ridge|Point|Crossing|Loop|Plaza|Mews|Rise|Wharf|Alley|Creek|Estates?|Harbor|Haven|Junction|Meadows?|Mills?|Pike|Shores?|Valley|Vista|Wells|Causeway|Locks|Islands?|Falls|Forges?|Fords?|Lakes?|Landing|Manor|Oval|Plains?|Prairie|Radial|Ranch|Skyway|Stravenue|Throughway|Tunnel|Turnpike|Viaduct|Villages?|Ville)";
const UNIT: &str = r"(?:[ ,]*\n?[ ]*(?:Apt\.?|Suite|Unit|Ste\.?|Flat|Floor|#) ?[0-9A-Za-z]+)*";
const WORD: &str = r"\p{Lu}[\p{L}\p{M}'.\-]*";
const LOW: &str = r"(?:de|du|des|la|le|del|da|do|di|dos|van|von|der|den|am|an)";
const CONTINENTAL_PREFIX: &str = r"(?:Rue|rue|Via|Viale|Calle|Carrer|Rua|R\.|Avenida|Av\.|Piazza|Plaza|Praça|Largo|Ul\.|ul\.|Ulica|Chemin|Allée|Boulevard|Bd\.?|Avenue|Strada|Str\.)";
const CONTINENTAL_SUFFIX: &str = r"\p{Lu}[\p{L}\p{M}]*(?:straße|strasse|str\.|weg|gasse|platz|allee|vägen|gatan|gata|vej|veien|vegen|straat|laan|plein|kade|tie|katu|utca|damm|ufer|chaussee)";
const CONTEXT: &str = r"(?i:address(?:es)?|lives?|lived|living|located|station is on|side of|moved to|send (?:it )?to|ship(?:ped)? to|deliver(?:ed)? to|offices? (?:are|is) (?:located )?(?:at|on|in)|stop at|corner of|taxi to|drops you off at|meet [^\n]{0,60}? at)";

/// The shapes, strongest first, in the order of [`shapes`]: `(name, base score)`. A match's
/// span is the whole match, or for `ctx` the address after the context phrase.
const SHAPES: [(&str, f32); 6] = [
    ("mil", 0.7),
    ("pobox", 0.7),
    ("first", 0.6),
    ("cont", 0.6),
    ("ctx", 0.55),
    ("nnn", 0.4),
];

/// Each shape's pattern (`after_context` holds the address in its `ctxaddr` group).
fn shapes() -> [String; 6] {
    let name = format!(r"{WORD}(?: (?:{WORD}|{LOW})){{0,4}}");
    [
        r"\b(?:(?:PSC|Unit|USNS|USNV|USS|USCGC) [0-9\p{L}]+(?:,? Box \d+)?)\s*\n?\s*[ADF]PO A[AEP] \d{5}\b".to_string(),
        format!(r"\b(?:\d+ )?P\.? ?O\.? Box \d+\b{UNIT}"),
        format!(r"\b\d{{1,6}}[A-Za-z]?(?: \d{{1,5}})? (?:[NSEW]\.? )?(?:{WORD} ){{0,3}}{SUFFIX}\b{UNIT}"),
        format!(r"(?:\b\d{{1,6}} )?(?:{CONTINENTAL_PREFIX}(?: (?:{WORD}|{LOW})){{1,5}}|(?:{WORD} ){{0,2}}{CONTINENTAL_SUFFIX}) \d{{1,5}}[a-zA-Z]?\b{UNIT}"),
        format!(r"{CONTEXT}\s*:?\s*(?:the )?(?P<ctxaddr>(?:\d{{1,6}} )?{name} \d{{1,5}}[a-zA-Z]?\b{UNIT})"),
        format!(r"\b\d{{1,6}} (?:\d{{1,5}} )?{name} \d{{1,5}}[a-zA-Z]?\b{UNIT}"),
    ]
}

/// All shapes as one regex: one scan of the text finds the matches (no capture groups, so
/// the fast engines serve it).
static ANY_SHAPE: LazyLock<Regex> = LazyLock::new(|| {
    let all: Vec<String> = shapes()
        .iter()
        .map(|p| format!("(?:{})", p.replace("?P<ctxaddr>", "")))
        .collect();
    fast_regex(&all.join("|")).expect("valid address pattern")
});

/// Each shape anchored, to tell which one a match is (run on the match alone).
static EACH_SHAPE: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    shapes()
        .iter()
        .map(|p| fast_regex(&format!("^(?:{p})$")).expect("valid address pattern"))
        .collect()
});

/// Words that make a number-name-number run a date or a count, not an address.
const NOT_STREETS: &[&str] = &[
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Sept",
    "Oct",
    "Nov",
    "Dec",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "Chapter",
    "Section",
    "Page",
    "Version",
    "Level",
    "Season",
    "Episode",
    "Room",
    "Step",
    "Part",
    "Table",
    "Figure",
    "Round",
    "Grade",
    "Year",
    "Years",
    "Day",
    "Days",
];

/// Added to a number-name-number run with an address word before it or a unit in it.
const CONTEXT_BOOST: f32 = 0.2;

static CONTEXT_BEFORE: LazyLock<Regex> = LazyLock::new(|| {
    fast_regex(&format!(r"{CONTEXT}|(?i:\b(?:at|on|to|in)\s*$)")).expect("valid context pattern")
});

/// Words one of the shapes needs (a street type, a continental street word, a box, a
/// context phrase), matched case-insensitively anywhere.
static SIGNALS: LazyLock<aho_corasick::AhoCorasick> = LazyLock::new(|| {
    aho_corasick::AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build([
            "street",
            "st.",
            " st ",
            "avenue",
            "ave",
            "road",
            "rd",
            "lane",
            "drive",
            "boulevard",
            "blvd",
            " way",
            "court",
            "place",
            "square",
            "terrace",
            "crescent",
            "close",
            "parkway",
            "highway",
            "circle",
            "trail",
            "hill",
            "mount",
            "neck",
            "spring",
            "heights",
            "box",
            "psc",
            "apo ",
            "fpo ",
            "dpo ",
            "rue ",
            "via ",
            "calle",
            "rua ",
            "avenida",
            "piazza",
            "plaza",
            "ul.",
            "ulica",
            "chemin",
            "str",
            "weg",
            "gasse",
            "platz",
            "allee",
            "vägen",
            "gata",
            "vej",
            "veien",
            "vegen",
            "laan",
            "plein",
            "kade",
            "tie ",
            "katu",
            "utca",
            "damm",
            "ufer",
            "address",
            "live",
            "located",
            "station",
            "side of",
            "moved to",
            "send",
            "ship",
            "deliver",
            "office",
            "stop at",
            "corner",
            "taxi",
            "drops you",
            "meet",
            "suite",
            "apt",
        ])
        .expect("valid signal words")
});

/// A cheap test before the patterns: a digit and a signal word, or a number followed by a
/// capitalised word and another number (`2444 Auenweg 85`).
fn might_hold_one(text: &str) -> bool {
    let bytes = text.as_bytes();
    if !bytes.iter().any(u8::is_ascii_digit) {
        return false;
    }
    if SIGNALS.is_match(text) {
        return true;
    }
    // digits, a space, a capital letter (ASCII or not), and a digit somewhere after it.
    bytes.windows(3).enumerate().any(|(i, w)| {
        w[0].is_ascii_digit()
            && w[1] == b' '
            && (w[2].is_ascii_uppercase() || w[2] >= 0xC0)
            && bytes[i + 3..].iter().any(u8::is_ascii_digit)
    })
}

/// `(start, end, score)` of each address in `text`, not overlapping, in text order.
pub fn find(text: &str) -> Vec<(usize, usize, f32)> {
    let mut found: Vec<(usize, usize, f32)> = Vec::new();
    if !might_hold_one(text) {
        return found;
    }
    for m in ANY_SHAPE.find_iter(text) {
        let matched = m.as_str();
        let Some(shape) = EACH_SHAPE.iter().position(|r| r.is_match(matched)) else {
            continue;
        };
        let (group, base) = &SHAPES[shape];
        let (start, end) = if *group == "ctx" {
            match EACH_SHAPE[shape]
                .captures(matched)
                .and_then(|c| c.name("ctxaddr"))
            {
                Some(a) => (m.start() + a.start(), m.start() + a.end()),
                None => continue,
            }
        } else {
            (m.start(), m.end())
        };
        let candidate = &text[start..end];
        if candidate
            .split_whitespace()
            .any(|w| NOT_STREETS.contains(&w.trim_matches(|c: char| !c.is_alphanumeric())))
        {
            continue;
        }
        let mut score = *base;
        if *base < 0.5 {
            let mut from = start.saturating_sub(48);
            while !text.is_char_boundary(from) {
                from += 1;
            }
            let has_unit = candidate.contains("Suite") || candidate.contains("Apt");
            if has_unit || CONTEXT_BEFORE.is_match(&text[from..start]) {
                score += CONTEXT_BOOST;
            }
        }
        found.push((start, end, score));
    }
    found.sort_by_key(|&(s, _, _)| s);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addresses(text: &str) -> Vec<&str> {
        find(text)
            .into_iter()
            .filter(|&(_, _, score)| score >= 0.5)
            .map(|(s, e, _)| &text[s..e])
            .collect()
    }

    #[test]
    fn street_shapes_are_found_with_their_units() {
        assert_eq!(
            addresses("Send it to 50 Point Walter Road, Apt. 876 please"),
            vec!["50 Point Walter Road, Apt. 876"]
        );
        assert_eq!(
            addresses("The bus station is on Buerlia 227"),
            vec!["Buerlia 227"]
        );
        assert_eq!(
            addresses("We met at Norrbyvägen 21, VEHMAA"),
            vec!["Norrbyvägen 21"]
        );
        assert_eq!(
            addresses("Thomas had given Carys his address: 673 Rue de la Sarthe 45"),
            vec!["673 Rue de la Sarthe 45"]
        );
        assert_eq!(
            addresses("located at PSC 1708, Box 0531\nAPO AP 05777. It serves"),
            vec!["PSC 1708, Box 0531\nAPO AP 05777"]
        );
        assert_eq!(
            addresses("north side of P.O. Box 259."),
            vec!["P.O. Box 259"]
        );
        assert_eq!(
            addresses("2444 Auenweg 85\n Suite 232\n POPPENDORF"),
            vec!["2444 Auenweg 85\n Suite 232"]
        );
    }

    #[test]
    fn dates_counts_and_plain_numbers_are_not_addresses() {
        assert!(addresses("On 12 March 2020 we shipped 3 boxes").is_empty());
        assert!(addresses("Read 3 Section 4 and Windows 10 notes").is_empty());
        assert!(addresses("The order 1234567 shipped in 2 days").is_empty());
        assert!(addresses("no digits at all on Main Street").is_empty());
    }
}
