//! The prompts `harm_classify` reads: their encoder features (max over windows), computed
//! once per distinct prompt in a batch and kept for the most recent `RECENT_PROMPTS` distinct
//! prompts, since many responses answer the same prompt (a template, a retried request, a
//! summarisation instruction). Memory: 768 floats per kept prompt, about 3 MB in all.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::inference::Model;

/// How many distinct prompts' features are kept.
pub const RECENT_PROMPTS: usize = 1024;

/// A prompt's features, or why the encoder could not read it.
pub type PromptOutcome = Result<Arc<[f32]>, String>;

pub struct PromptEncoder {
    model: Arc<Model>,
    /// Index of the model's `features` output.
    features: usize,
    recent: Mutex<Recent>,
}

#[derive(Default)]
struct Recent {
    features: HashMap<Arc<str>, Arc<[f32]>>,
    order: VecDeque<Arc<str>>,
}

impl Recent {
    fn keep(&mut self, prompt: Arc<str>, features: Arc<[f32]>) {
        if self.features.insert(prompt.clone(), features).is_none() {
            self.order.push_back(prompt);
            while self.order.len() > RECENT_PROMPTS {
                if let Some(oldest) = self.order.pop_front() {
                    self.features.remove(&oldest);
                }
            }
        }
    }
}

impl PromptEncoder {
    pub fn new(model: Arc<Model>, features: usize) -> Self {
        PromptEncoder {
            model,
            features,
            recent: Mutex::default(),
        }
    }

    /// The features of each prompt, in order: kept ones from memory, the others encoded in
    /// one batched call (each distinct prompt once).
    pub fn encode(&self, prompts: &[Arc<str>]) -> Vec<PromptOutcome> {
        let mut known: HashMap<Arc<str>, PromptOutcome> = {
            let recent = self.recent.lock().expect("recent prompts lock");
            prompts
                .iter()
                .filter_map(|p| recent.features.get(p).map(|f| (p.clone(), Ok(f.clone()))))
                .collect()
        };
        let mut missing: Vec<Arc<str>> = Vec::new();
        for p in prompts {
            if !known.contains_key(p) && !missing.contains(p) {
                missing.push(p.clone());
            }
        }
        if !missing.is_empty() {
            let refs: Vec<&str> = missing.iter().map(|p| &**p).collect();
            let outcomes = self.model.infer(&refs);
            let mut recent = self.recent.lock().expect("recent prompts lock");
            for (prompt, outcome) in missing.into_iter().zip(outcomes) {
                let outcome = outcome
                    .map(|o| Arc::<[f32]>::from(o.max_over_windows(self.features)))
                    .map_err(|e| e.to_string());
                if let Ok(features) = &outcome {
                    recent.keep(prompt.clone(), features.clone());
                }
                known.insert(prompt, outcome);
            }
        }
        prompts.iter().map(|p| known[p].clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_prompts_are_bounded_and_forget_the_oldest() {
        let mut recent = Recent::default();
        for i in 0..RECENT_PROMPTS + 2 {
            recent.keep(Arc::from(i.to_string()), Arc::from(vec![i as f32]));
        }
        assert_eq!(recent.features.len(), RECENT_PROMPTS);
        assert!(!recent.features.contains_key("0") && !recent.features.contains_key("1"));
        assert!(recent
            .features
            .contains_key(&*(RECENT_PROMPTS + 1).to_string()));
        // Keeping a prompt again does not grow the queue.
        recent.keep(Arc::from("5"), Arc::from(vec![0.0]));
        assert_eq!(recent.order.len(), RECENT_PROMPTS);
    }
}
