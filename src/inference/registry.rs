//! Process-wide sharing of loaded models by configuration: operators with equal model tables
//! (toxicity and injection on the default MiniLM) get the same [`Model`], so each text is
//! tokenized and encoded once for all of them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use super::config::ModelConfig;
use super::model::Model;
use super::InferenceError;

fn models() -> &'static Mutex<HashMap<ModelConfig, Arc<Model>>> {
    static MODELS: OnceLock<Mutex<HashMap<ModelConfig, Arc<Model>>>> = OnceLock::new();
    MODELS.get_or_init(Default::default)
}

/// The model for `config`, loading it on first use. Loaded models live for the process.
pub fn shared(config: &ModelConfig) -> Result<Arc<Model>, InferenceError> {
    let mut loaded = models().lock().expect("model registry lock");
    if let Some(model) = loaded.get(config) {
        return Ok(model.clone());
    }
    let model = Arc::new(Model::load(config)?);
    loaded.insert(config.clone(), model.clone());
    Ok(model)
}
