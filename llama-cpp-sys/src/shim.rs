//! Declarations of the C++ shim in `shim/llama_rs_shim.h`, written by hand
//! because the shim is ours and tiny. Every shim function catches all C++
//! exceptions.

use crate::{ggml_backend_buffer_type_t, llama_context, llama_model};
use std::os::raw::c_char;

/// A compiled `std::regex` (ECMAScript), as llama.cpp's loader compiles
/// tensor override patterns.
#[repr(C)]
pub struct llama_rs_regex {
    _private: [u8; 0],
}

/// Bytes llama.cpp allocated in one buffer type.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct llama_rs_buft_memory {
    pub buft: ggml_backend_buffer_type_t,
    pub model: usize,
    pub context: usize,
    pub compute: usize,
}

extern "C" {
    /// Compiles `pattern`; NULL on failure with the reason in `error`.
    pub fn llama_rs_regex_new(
        pattern: *const c_char,
        error: *mut c_char,
        error_len: usize,
    ) -> *mut llama_rs_regex;
    /// 1 on a match anywhere in `text`, 0 on none, -1 on error.
    pub fn llama_rs_regex_search(regex: *const llama_rs_regex, text: *const c_char) -> i32;
    pub fn llama_rs_regex_free(regex: *mut llama_rs_regex);
    /// Weight bytes per buffer type; returns the entry count or -1.
    pub fn llama_rs_model_memory_breakdown(
        model: *const llama_model,
        out: *mut llama_rs_buft_memory,
        capacity: usize,
    ) -> i64;
    /// Weights, KV cache and compute bytes per buffer type; entry count or -1.
    pub fn llama_rs_context_memory_breakdown(
        ctx: *const llama_context,
        out: *mut llama_rs_buft_memory,
        capacity: usize,
    ) -> i64;
    /// 1 when the context's attention is causal, 0 when not, -1 on error.
    pub fn llama_rs_context_causal_attn(ctx: *const llama_context) -> i32;
}
