//! Precision, recall and F1 from counts.

/// True positives, false positives, false negatives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

impl Counts {
    pub fn merged(self, other: &Counts) -> Counts {
        Counts {
            tp: self.tp + other.tp,
            fp: self.fp + other.fp,
            fn_: self.fn_ + other.fn_,
        }
    }
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
    pub fn support(&self) -> usize {
        self.tp + self.fn_
    }
}

/// Confusion counts of a binary classifier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BinaryScores {
    pub tp: usize,
    pub fp: usize,
    pub tn: usize,
    pub fn_: usize,
}

impl BinaryScores {
    pub fn record(&mut self, gold: bool, predicted: bool) {
        match (gold, predicted) {
            (true, true) => self.tp += 1,
            (false, true) => self.fp += 1,
            (false, false) => self.tn += 1,
            (true, false) => self.fn_ += 1,
        }
    }
    pub fn counts(&self) -> Counts {
        Counts {
            tp: self.tp,
            fp: self.fp,
            fn_: self.fn_,
        }
    }
    pub fn accuracy(&self) -> f64 {
        ratio(self.tp + self.tn, self.tp + self.tn + self.fp + self.fn_)
    }
    /// Mean of the true-positive and true-negative rates.
    pub fn balanced_accuracy(&self) -> f64 {
        (ratio(self.tp, self.tp + self.fn_) + ratio(self.tn, self.tn + self.fp)) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f1_cases() {
        let cases = [
            (
                Counts {
                    tp: 0,
                    fp: 0,
                    fn_: 0,
                },
                0.0,
                0.0,
                0.0,
            ),
            (
                Counts {
                    tp: 5,
                    fp: 0,
                    fn_: 0,
                },
                1.0,
                1.0,
                1.0,
            ),
            (
                Counts {
                    tp: 1,
                    fp: 1,
                    fn_: 2,
                },
                0.5,
                1.0 / 3.0,
                0.4,
            ),
        ];
        for (counts, p, r, f1) in cases {
            assert!((counts.precision() - p).abs() < 1e-9);
            assert!((counts.recall() - r).abs() < 1e-9);
            assert!((counts.f1() - f1).abs() < 1e-9, "{counts:?}");
        }
    }

    #[test]
    fn balanced_accuracy_weighs_classes_equally() {
        let mut s = BinaryScores::default();
        for _ in 0..90 {
            s.record(false, false);
        }
        for _ in 0..10 {
            s.record(true, false);
        }
        assert!((s.accuracy() - 0.9).abs() < 1e-9);
        assert!((s.balanced_accuracy() - 0.5).abs() < 1e-9);
    }
}
