//! llama-cpp-2's module paths, free functions and signatures, on top of this crate's types.
//!
//! With `llama-cpp-2 = { package = "llama-cpp-moe", path = ... }` in a Cargo.toml, code written
//! for llama-cpp-2 (upstream's `examples/usage.rs` and `examples/simple/`, checked by
//! `make test-dropin`) compiles unchanged. Where llama-cpp-2's signature and this crate's
//! differ for the same path, a thin wrapper type carries llama-cpp-2's
//! ([`llama_batch::LlamaBatch`], [`sampling::LlamaSampler`]); everything else is the crate's own
//! type under a second path, or a method in a separate `impl` block here. What is left out is
//! listed in README ("Drop-in for llama-cpp-2") with the reason.
//!
//! llama-cpp-2's error enums are aliases of [`LlamaError`]: `?` and `.with_context()` work the
//! same, a `match` on llama-cpp-2's variants does not.

pub mod llama_backend;
pub mod llama_batch;
mod log;
mod model;
mod params;
pub mod sampling;
mod timing;
pub mod token;

pub use log::{send_logs_to_tracing, LogOptions};

use crate::{sys, LlamaBackend, LlamaError};

/// llama-cpp-2's top-level error: an alias of [`LlamaError`].
pub type LlamaCppError = LlamaError;
/// llama-cpp-2's error of `LlamaModel::load_from_file`: an alias of [`LlamaError`].
pub type LlamaModelLoadError = LlamaError;
/// llama-cpp-2's error of `LlamaModel::new_context`: an alias of [`LlamaError`].
pub type LlamaContextLoadError = LlamaError;
/// llama-cpp-2's error of `LlamaContext::decode`: an alias of [`LlamaError`].
pub type DecodeError = LlamaError;
/// llama-cpp-2's error of `LlamaModel::str_to_token`: an alias of [`LlamaError`].
pub type StringToTokenError = LlamaError;
/// llama-cpp-2's error of `LlamaModel::token_to_piece`: an alias of [`LlamaError`].
pub type TokenToStringError = LlamaError;
/// llama-cpp-2's error of `LlamaModel::chat_template`: an alias of [`LlamaError`].
pub type ChatTemplateError = LlamaError;
/// llama-cpp-2's error of `LlamaModel::apply_chat_template`: an alias of [`LlamaError`].
pub type ApplyChatTemplateError = LlamaError;
/// llama-cpp-2's error of `LlamaChatMessage::new`: an alias of [`LlamaError`].
pub type NewLlamaChatMessageError = LlamaError;

/// ggml's monotonic clock in microseconds (llama-cpp-2's `ggml_time_us`).
///
/// Initialises the backend first (once per process): on Windows the clock needs
/// `ggml_time_init`, which `llama_backend_init` calls.
#[must_use]
pub fn ggml_time_us() -> i64 {
    // Infallible (its `Result` is for llama-cpp-2's signature); only the once-only
    // initialisation matters here.
    let _ = LlamaBackend::init();
    // SAFETY: a clock read; llama_time_us is ggml_time_us, and the clock is initialised above.
    unsafe { sys::llama_time_us() }
}

/// llama.cpp's clock in microseconds: the same clock as [`ggml_time_us`].
#[must_use]
pub fn llama_time_us() -> i64 {
    ggml_time_us()
}

/// The most devices llama.cpp splits a model across.
#[must_use]
pub fn max_devices() -> usize {
    // SAFETY: a constant query.
    unsafe { sys::llama_max_devices() }
}

/// Whether this platform can memory-map model files.
#[must_use]
pub fn mmap_supported() -> bool {
    // SAFETY: a pure query of compiled-in capabilities.
    unsafe { sys::llama_supports_mmap() }
}

/// Whether this platform can lock the weights in RAM.
#[must_use]
pub fn mlock_supported() -> bool {
    // SAFETY: a pure query of compiled-in capabilities.
    unsafe { sys::llama_supports_mlock() }
}

/// Whether this platform can lock the weights in RAM (llama-cpp-2's second name for
/// [`mlock_supported`]).
#[must_use]
pub fn llama_supports_mlock() -> bool {
    mlock_supported()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ggml_clock_is_monotonic_microseconds() {
        let a = ggml_time_us();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = llama_time_us();
        assert!(b - a >= 2_000, "{a} then {b}");
    }

    #[test]
    fn capability_queries_answer() {
        assert!(max_devices() >= 1);
        assert_eq!(mlock_supported(), llama_supports_mlock());
        let _ = mmap_supported();
    }
}
