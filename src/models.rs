//! Where the bootstrap puts the test models.

use llama_cpp::{LlamaBackend, LlamaModel, LlamaModelParams};
use std::path::PathBuf;

/// The repository's `models/` folder (git-ignored; filled by the bootstrap).
pub fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models")
}

/// SmolLM2-135M-Instruct Q4_1 (dense llama), or `LLAMA_TEST_MODEL`.
pub fn dense_test_model() -> PathBuf {
    std::env::var_os("LLAMA_TEST_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| models_dir().join("SmolLM2-135M-Instruct.Q4_1.gguf"))
}

/// The upcycled SmolLM2 MoE (4 experts, top-1) the bootstrap builds, or
/// `LLAMA_TEST_MOE_MODEL`. The examples' default model.
pub fn moe_test_model() -> PathBuf {
    std::env::var_os("LLAMA_TEST_MOE_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| models_dir().join("smollm2-moe-e4k1.gguf"))
}

/// Panics with the command that creates a missing test model.
pub fn require(path: PathBuf) -> PathBuf {
    assert!(
        path.is_file(),
        "{} is missing: run `make models` (scripts/bootstrap.sh + the upcycler) first",
        path.display()
    );
    path
}

/// Loads the dense test model with `params`, for tests: panics with the reason.
pub fn load_dense(backend: &LlamaBackend, params: &LlamaModelParams) -> LlamaModel {
    LlamaModel::load_from_file(backend, require(dense_test_model()), params)
        .unwrap_or_else(|e| panic!("loading {}: {e}", dense_test_model().display()))
}
