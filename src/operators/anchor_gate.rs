//! One pass over a text for several groups of literal anchors (cheap gates before costlier
//! scans): which groups occur. A group matches exactly or ASCII case-insensitively; all
//! groups share one case-insensitive automaton, and exact groups are checked at each hit, so
//! a detector with three gates reads its text once instead of three times.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

/// How a group's literals match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    Exact,
    Insensitive,
}

/// Several groups of literals, searched in one pass.
#[derive(Debug, Clone)]
pub struct AnchorGate {
    automaton: AhoCorasick,
    /// Per pattern: its group, and the literal when the group matches exactly.
    patterns: Vec<(usize, Option<Vec<u8>>)>,
    groups: usize,
}

impl AnchorGate {
    /// At most 64 groups; each literal non-empty.
    pub fn new(groups: &[(&[&str], Case)]) -> Result<AnchorGate, String> {
        if groups.len() > 64 {
            return Err(format!("at most 64 anchor groups, got {}", groups.len()));
        }
        let mut literals = Vec::new();
        let mut patterns = Vec::new();
        for (group, (words, case)) in groups.iter().enumerate() {
            for word in words.iter().filter(|w| !w.is_empty()) {
                literals.push(word.as_bytes().to_vec());
                let exact = (*case == Case::Exact).then(|| word.as_bytes().to_vec());
                patterns.push((group, exact));
            }
        }
        let automaton = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&literals)
            .map_err(|e| e.to_string())?;
        Ok(AnchorGate {
            automaton,
            patterns,
            groups: groups.len(),
        })
    }

    /// Whether a literal of a group in `wanted` occurs in `text`: one search that stops at
    /// the first literal, when none occurs in any case.
    pub fn any(&self, text: &str, wanted: u64) -> bool {
        self.automaton.is_match(text) && self.scan(text, wanted) & wanted != 0
    }

    /// The groups that occur in `text`, as bits (group `i` is bit `i`). Stops reading once
    /// every group in `wanted` is found.
    pub fn scan(&self, text: &str, wanted: u64) -> u64 {
        let bytes = text.as_bytes();
        let all = if self.groups == 64 {
            u64::MAX
        } else {
            (1u64 << self.groups) - 1
        };
        let wanted = wanted & all;
        let mut found = 0u64;
        for m in self.automaton.find_overlapping_iter(bytes) {
            let (group, exact) = &self.patterns[m.pattern().as_usize()];
            let bit = 1u64 << group;
            if found & bit != 0 {
                continue;
            }
            if exact
                .as_deref()
                .is_none_or(|e| &bytes[m.start()..m.end()] == e)
            {
                found |= bit;
                if found & wanted == wanted {
                    break;
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_groups_keep_their_case_and_insensitive_ones_do_not() {
        let gate = AnchorGate::new(&[
            (&["AKIA", "SK"], Case::Exact),
            (&["password"], Case::Insensitive),
        ])
        .unwrap();
        assert_eq!(gate.scan("ask a task", u64::MAX), 0);
        assert_eq!(gate.scan("key SK123", u64::MAX), 0b01);
        assert_eq!(gate.scan("PassWord: x", u64::MAX), 0b10);
        assert_eq!(gate.scan("akia then AKIA and PASSWORD", u64::MAX), 0b11);
        // Overlapping hits: the exact literal inside a longer insensitive one still counts.
        let gate =
            AnchorGate::new(&[(&["sk-"], Case::Exact), (&["task-"], Case::Insensitive)]).unwrap();
        assert_eq!(gate.scan("TASK-sk-", u64::MAX), 0b11);
    }
}
