//! The crate's error type: every fallible call returns [`LlamaError`].

use std::path::PathBuf;

/// Errors returned by this crate. Bad input never aborts the process: it is
/// caught before llama.cpp sees it, or llama.cpp's failure is mapped here.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum LlamaError {
    /// The model file does not exist or is not a regular file.
    #[error("model file {path} is not readable: {reason}")]
    ModelFile {
        /// The path given to the loader.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// llama.cpp refused to load the model (its log says why).
    #[error("llama.cpp failed to load {path}: {reason}")]
    ModelLoad {
        /// The path given to the loader.
        path: PathBuf,
        /// The reason, as far as it is known before the call or from the log.
        reason: String,
    },
    /// The file is not a usable GGUF file.
    #[error(transparent)]
    Gguf(#[from] crate::gguf::GgufError),
    /// A string passed to llama.cpp contains a NUL byte.
    #[error("{what} contains a NUL byte at position {position}")]
    InteriorNul {
        /// Which argument.
        what: &'static str,
        /// Byte offset of the first NUL.
        position: usize,
    },
    /// A tensor override pattern is not a valid std::regex (ECMAScript).
    #[error("invalid tensor override pattern {pattern:?}: {reason}")]
    InvalidPattern {
        /// The pattern as given.
        pattern: String,
        /// std::regex's message.
        reason: String,
    },
    /// More tensor overrides than llama.cpp accepts.
    #[error("too many tensor overrides: {count} (llama.cpp accepts at most {max})")]
    TooManyOverrides {
        /// Overrides requested.
        count: usize,
        /// `llama_max_tensor_buft_overrides()`.
        max: usize,
    },
    /// A device index or buffer-type name that this build does not have.
    #[error("unknown device {requested}: available are {available}")]
    UnknownDevice {
        /// What was asked for.
        requested: String,
        /// What exists, for the message.
        available: String,
    },
    /// A parameter outside the range llama.cpp supports.
    #[error("invalid parameter {name}: {reason}")]
    InvalidParameter {
        /// The parameter.
        name: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// llama.cpp could not create the context (usually out of memory).
    #[error("failed to create a llama context: {0}")]
    ContextCreate(String),
    /// A token id outside the vocabulary.
    #[error("token {token} is out of range (vocabulary has {n_vocab} tokens)")]
    TokenOutOfRange {
        /// The token id.
        token: i32,
        /// Vocabulary size.
        n_vocab: i32,
    },
    /// The batch has no room for another token, or a sequence id is invalid.
    #[error("batch error: {0}")]
    Batch(String),
    /// The context has no room for the tokens (KV cache full).
    #[error("the context is full: {needed} tokens needed, n_ctx is {n_ctx}")]
    ContextFull {
        /// Positions the batch would occupy.
        needed: u32,
        /// Context size.
        n_ctx: u32,
    },
    /// `llama_decode` failed.
    #[error("llama_decode failed with code {code}: {reason}")]
    Decode {
        /// llama.cpp's return code.
        code: i32,
        /// Its documented meaning.
        reason: &'static str,
    },
    /// No logits are available for this batch index.
    #[error("no logits for batch index {0}: the token was not marked for output, or nothing was decoded")]
    NoLogits(i32),
    /// The sampler (or every sampler of a chain) only filters or rescales
    /// the candidates and selected none: add `greedy` or `dist` at the end.
    #[error("the sampler selected no token: end the chain with LlamaSampler::greedy() or dist()")]
    NoTokenSelected,
    /// Sampling failed for another reason.
    #[error("sampling failed: {0}")]
    Sample(String),
    /// Tokenization failed.
    #[error("tokenization failed: {0}")]
    Tokenize(String),
    /// The chat template could not be found or applied.
    #[error("chat template error: {0}")]
    ChatTemplate(String),
    /// An I/O error outside GGUF parsing.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The placement planner found no plan (boxed: it can hold a `LlamaError`).
    #[error(transparent)]
    Plan(Box<crate::planner::PlanError>),
}

/// Shorthand used throughout the crate.
pub type Result<T, E = LlamaError> = std::result::Result<T, E>;

/// Converts a Rust string for llama.cpp, rejecting interior NULs.
pub(crate) fn to_cstring(what: &'static str, value: &str) -> Result<std::ffi::CString> {
    std::ffi::CString::new(value).map_err(|err| LlamaError::InteriorNul {
        what,
        position: err.nul_position(),
    })
}
