//! Support code shared by the examples and the end-to-end tests of
//! llama-cpp-rs-moe. Not published; the crates are `llama-cpp` and
//! `llama-cpp-sys`.

pub mod synth;
