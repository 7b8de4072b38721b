//! Support code shared by the examples and the end-to-end tests of
//! llama-cpp-rs-moe: model paths, greedy generation, measurement helpers,
//! and the GGUF generators (sparse upcycling, synthetic MoE presets). Not
//! published; the crates are `llama-cpp` and `llama-cpp-sys`.

pub mod defaults;
pub mod measure;
pub mod model_params;
pub mod models;
pub mod partial_file;
pub mod planning;
pub mod report;
pub mod sha256;
pub mod synth;
pub mod upcycle;

/// The README's Rust examples run as doctests of this package.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
