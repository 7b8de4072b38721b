//! llama-cpp-2's path for [`LlamaContextParams`] (`llama_cpp_2::context::params`).
//!
//! The type is this crate's own; llama-cpp-2's RoPE, pooling, attention and KV cache type
//! enums are not provided (README, "Drop-in for llama-cpp-2").

pub use super::{FlashAttention, LlamaContextParams};
