//! Operators that report nothing on a text without a trigger of theirs (`Inspector::
//! trigger_chars`): which of them a stream's scan window may leave out (its earlier part held
//! no trigger, as the previous window said, and its new part holds none), and which must still
//! read a whole response for its verdict (windows that overlap less than a trigger's length
//! may each hold only a part of one).

use std::sync::Arc;

use super::boundary;
use super::table::OpenStream;
use crate::operators::Inspector;

/// One gated operator.
struct Gated {
    id: Arc<str>,
    trigger_chars: usize,
    inspector: Arc<dyn Inspector>,
}

/// The gated operators of a topology (at most 64: a stream keeps one bit each).
pub struct Triggers {
    gated: Vec<Gated>,
    /// Those whose verdict on a response cannot be known from its windows.
    rescanned: Vec<Arc<str>>,
}

impl Triggers {
    /// `inspectors` with a `trigger_chars`; consecutive scan windows share at least `overlap`
    /// characters.
    pub fn new(inspectors: Vec<Arc<dyn Inspector>>, overlap: usize) -> Triggers {
        let gated: Vec<Gated> = inspectors
            .into_iter()
            .filter_map(|inspector| {
                Some(Gated {
                    id: Arc::from(inspector.id()),
                    trigger_chars: inspector.trigger_chars()?,
                    inspector,
                })
            })
            .take(64)
            .collect();
        let rescanned = gated
            .iter()
            .filter(|g| g.trigger_chars > overlap)
            .map(|g| g.id.clone())
            .collect();
        Triggers { gated, rescanned }
    }

    /// The operators that can find nothing in the window from `window_start` to the end of
    /// the stream's text: the latest window held no trigger of theirs (this one starts no
    /// earlier, so its part up to that window's end holds none either), and none starts in
    /// the rest (from a trigger's length before that end).
    pub fn quiet(&self, stream: &OpenStream, window_start: usize) -> Vec<Arc<str>> {
        let seen = stream.scanned.min(stream.text.len());
        self.gated
            .iter()
            .enumerate()
            .filter(|(i, gated)| {
                let back = boundary::hold_back_from(&stream.text[..seen], gated.trigger_chars);
                let from = back.max(window_start);
                stream.loud & (1 << i) == 0 && !gated.inspector.has_trigger(&stream.text[from..])
            })
            .map(|(_, gated)| gated.id.clone())
            .collect()
    }

    /// A stream's `loud` bits after a scan window: the operators among `triggered`.
    pub fn loud(&self, triggered: &[Arc<str>]) -> u64 {
        self.gated
            .iter()
            .enumerate()
            .filter(|(_, gated)| triggered.contains(&gated.id))
            .fold(0, |bits, (i, _)| bits | 1 << i)
    }

    /// The operators a response's verdict runs whatever its windows saw.
    pub fn rescanned(&self) -> &[Arc<str>] {
        &self.rescanned
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Event;
    use crate::operators::OperatorFailure;

    /// Triggered by `zzz`.
    struct Zzz;

    impl Inspector for Zzz {
        fn id(&self) -> &str {
            "zzz"
        }
        fn inspect(&self, _: &mut Event) -> Result<(), OperatorFailure> {
            Ok(())
        }
        fn trigger_chars(&self) -> Option<usize> {
            Some(3)
        }
        fn has_trigger(&self, text: &str) -> bool {
            text.contains("zzz")
        }
    }

    fn stream(text: &str, scanned: usize, loud: u64) -> OpenStream {
        let mut stream = OpenStream::new(0, Event::prompt("s", ""), std::time::Instant::now());
        stream.text = text.to_string();
        stream.scanned = scanned;
        stream.loud = loud;
        stream
    }

    #[test]
    fn a_window_is_quiet_only_when_no_trigger_can_lie_in_it() {
        let triggers = Triggers::new(vec![Arc::new(Zzz)], 100);
        let quiet = |s: &OpenStream, from| !triggers.quiet(s, from).is_empty();
        // The previous window (to byte 10) held no trigger, the new text holds none.
        assert!(quiet(&stream("aaaaaaaaaa bbbb", 10, 0), 0));
        // A trigger split across the previous window's end.
        assert!(!quiet(&stream("aaaaaaaazzzbbbb", 10, 0), 0));
        // One in the new text.
        assert!(!quiet(&stream("aaaaaaaaaa zzzb", 10, 0), 0));
        // The previous window held one.
        assert!(!quiet(&stream("aaaaaaaaaa bbbb", 10, 1), 0));
        // A trigger whole in the previous window but before this one is not looked at.
        assert!(quiet(&stream("zzzaaaaaaa bbbb", 10, 0), 4));
        assert_eq!(triggers.loud(&[Arc::from("zzz")]), 1);
        assert_eq!(triggers.loud(&[Arc::from("other")]), 0);
    }

    #[test]
    fn windows_overlapping_less_than_a_trigger_leave_the_verdict_to_a_rescan() {
        assert!(Triggers::new(vec![Arc::new(Zzz)], 3).rescanned().is_empty());
        assert_eq!(Triggers::new(vec![Arc::new(Zzz)], 2).rescanned().len(), 1);
    }
}
