//! `ner_detect`: the NER recognizer as an operator of its own (PII findings with spans, one
//! per reported label, redacted like `pii_detect`'s).

use std::sync::Arc;

use super::recognizer::NerRecognizer;
use super::NerConfig;
use crate::model::Action;
use crate::model::{Category, Event, Finding, Provenance, Redaction};
use crate::operators::pii::action_for;
use crate::operators::{group_in_order, Inspector, OperatorFailure};

struct LabelRule {
    name: String,
    action: Action,
    redaction: Option<Redaction>,
}

pub struct NerDetector {
    id: Arc<str>,
    recognizer: NerRecognizer,
    rules: Vec<LabelRule>,
    threshold: f32,
}

impl NerConfig {
    pub fn build_detector(&self, id: &str) -> Result<NerDetector, String> {
        let labels = self.reported_labels();
        let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
        let redactions = self.redaction.clone().unwrap_or_default().resolve(&refs)?;
        Ok(NerDetector {
            id: Arc::from(id),
            recognizer: NerRecognizer::build(self)?,
            rules: labels
                .iter()
                .map(|label| LabelRule {
                    name: label.clone(),
                    action: action_for(label, &self.actions),
                    redaction: redactions.get(label).cloned().flatten(),
                })
                .collect(),
            threshold: self.threshold,
        })
    }
}

impl Inspector for NerDetector {
    fn id(&self) -> &str {
        &self.id
    }

    fn stream_role(&self) -> crate::operators::StreamRole {
        crate::operators::StreamRole::Sentences
    }

    fn model_digests(&self) -> Vec<&'static str> {
        vec![self.recognizer.model().digest()]
    }

    fn prepare(&self, events: &mut [Event]) {
        self.recognizer.prepare(events);
    }

    fn inspect(&self, event: &mut Event) -> Result<(), OperatorFailure> {
        let entities = self.recognizer.entities(event)?;
        for (label, members) in group_in_order(&entities, |e| e.label.clone()) {
            let Some(rule) = self.rules.iter().find(|r| *r.name == *label) else {
                continue;
            };
            event.findings.push(Finding {
                operator: self.id.clone(),
                category: Category::Pii,
                label,
                score: members.iter().map(|e| e.score).fold(0.0, f32::max),
                spans: members.iter().map(|e| e.span).collect(),
                action: rule.action,
                redaction: rule.redaction.clone(),
                reason: None,
                provenance: Provenance {
                    detector: "onnx_ner",
                    version: self.recognizer.model().digest(),
                    threshold: self.threshold,
                },
                location: None,
            });
        }
        Ok(())
    }
}
