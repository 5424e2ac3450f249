//! [`Score`]: what a model operator scored for one label of one event, above its threshold
//! or not, recorded when the operator's `record_scores` asks for it (feedback and replay
//! need the scores below the threshold to choose a new one).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// One label's score from one operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub operator: Arc<str>,
    pub label: Arc<str>,
    pub score: f32,
    /// The label's threshold when it was scored.
    pub threshold: f32,
}
