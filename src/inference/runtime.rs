//! Loading the ONNX Runtime shared library (once per process).
//!
//! railyard links ONNX Runtime dynamically: the library comes from the `onnxruntime` PyPI
//! wheel (`scripts/setup.sh` links it to [`DEFAULT_LIBRARY`]), or from wherever
//! `ORT_DYLIB_PATH` points (e.g. the `onnxruntime-gpu` wheel's library on a GPU machine).

use std::path::PathBuf;
use std::sync::OnceLock;

use super::InferenceError;

/// Where `scripts/setup.sh` links the library, relative to the working directory.
pub const DEFAULT_LIBRARY: &str = "models/runtime/libonnxruntime.so";

static ENVIRONMENT: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

/// The library that will be (or was) loaded: `ORT_DYLIB_PATH`, else [`DEFAULT_LIBRARY`].
pub fn library_path() -> PathBuf {
    std::env::var_os("ORT_DYLIB_PATH")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_LIBRARY))
}

/// The process's ONNX Runtime environment (loading the library on first use).
pub fn environment() -> Result<&'static ort::environment::Environment, InferenceError> {
    ENVIRONMENT
        .get_or_init(|| {
            let path = library_path();
            if !path.is_file() {
                return Err(format!(
                    "ONNX Runtime library not found at {} (run `bash scripts/setup.sh`, or set \
                     ORT_DYLIB_PATH to libonnxruntime.so from the onnxruntime==1.31.1 wheel)",
                    path.display()
                ));
            }
            ort::init_from(&path)
                .map_err(|e| format!("cannot load ONNX Runtime from {}: {e}", path.display()))?
                .with_name("railyard")
                .build()
                .map_err(|e| format!("cannot start ONNX Runtime: {e}"))
        })
        .as_ref()
        .map_err(|message| InferenceError::Runtime(message.clone()))
}
