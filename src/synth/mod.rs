//! Random-weight GGUF files shaped exactly like four Mixture-of-Experts models.
//!
//! Benchmarks of expert offloading need the *shapes* of real models (tensor
//! names, dimensions, ggml types, hyper-parameter keys) but not their weights:
//! throughput and memory use do not depend on the values. This module builds,
//! for a [`Preset`] and an optional layer count, the exact tensor list and
//! key/value list that llama.cpp b10200 expects (checked against
//! `src/models/{openai-moe,phimoe,deepseek,qwen3moe}.cpp`,
//! `src/llama-model.cpp` and `src/llama-vocab.cpp` of the pinned sources), and
//! streams random but *valid* tensor data into a GGUF file.
//!
//! [`build`] is a pure function of `(preset, options)`: it returns a
//! [`ModelSpec`] (KV pairs and [`TensorSpec`]s) without touching any data, so
//! the shapes are unit-testable. [`write_gguf`] / [`write_file`] stream the
//! data through [`llama_cpp::gguf::GgufWriter`].
//!
//! # What the values are
//!
//! Every tensor is either [`Fill::Const`] (all norm weights and Phi's RoPE
//! factors: exactly `1.0` in F32) or [`Fill::Random`]. Random data is made
//! like this, for each ggml type separately:
//!
//! * A *tile* of about 4 MiB (a whole number of blocks) is filled from a
//!   SplitMix64 generator seeded from `--seed` and the type id:
//!   * **F32 / F16 / BF16**: each element has a random sign, a random mantissa
//!     and a random exponent in `2^-9 ..= 2^-6`, so `|x|` lies in
//!     `[2^-9, 2^-5)` ≈ `[0.002, 0.031)`: finite, normal, never zero.
//!   * **Q8_0** (34-byte blocks of 32): scale `d` is an f16 in `[2^-12, 2^-11)`
//!     (positive, random mantissa), the 32 quants are random int8, so
//!     `|x| <= 128 * 2^-11 = 0.0625`.
//!   * **MXFP4** (17-byte blocks of 32): the E8M0 scale byte is `118..=121`
//!     (`2^-9 ..= 2^-6`), the 16 bytes of e2m1 nibbles are random, so
//!     `|x| <= 6 * 2^-6 ≈ 0.094`.
//!   * **Q4_K** (144-byte super-blocks of 256): `d` and `dmin` are f16 in
//!     `[2^-14, 2^-13)`, the 12 packed 6-bit scale/min bytes and the 128 bytes
//!     of nibbles are random (`|x| < 63 * 15 * 2^-13 ≈ 0.12`).
//!   * **Q6_K** (210-byte super-blocks of 256): `d` is an f16 in
//!     `[2^-14, 2^-13)`, `ql`, `qh` and the int8 sub-block scales are random
//!     (`|x| <= 128 * 32 * 2^-13 = 0.5`, typically ~0.06).
//! * Each tensor's bytes are then a sequence of *segments* `tile[s..]`, where
//!   each start `s` is a block-aligned offset drawn uniformly from the first
//!   half of the tile by a generator seeded from `--seed` and the tensor's
//!   index. So tensors differ from each other and are not periodic, and writing
//!   costs about one `memcpy` per byte (fast even in debug builds); every block
//!   in the file is one of the tile's valid blocks.
//!
//! The same `(preset, layers, seed)` always gives the same file.
//!
//! # Tokenizer
//!
//! A synthetic byte-level BPE vocabulary (`tokenizer.ggml.model = "gpt2"`,
//! `tokenizer.ggml.pre = "gpt-2"`), see [`synthetic_vocab`]: token `i < 256` is
//! byte `i` under GPT-2's `bytes_to_unicode` mapping (so every UTF-8 string
//! tokenizes), then the results of a few merges (`tokenizer.ggml.merges` must
//! exist for `gpt2` models), filler tokens `<filler_N>` up to the preset's
//! vocabulary size, and two control tokens at the end: `<|startoftext|>`
//! (BOS) and `<|endoftext|>` (EOS; llama.cpp also detects it by text as EOT,
//! so it ends generation).

mod arch;
mod builder;
mod dtype;
mod error;
mod fill;
mod preset;
mod spec;
mod tokenizer;
mod write;

#[cfg(test)]
mod tests;

pub use builder::build;
pub use dtype::Dtype;
pub use error::SynthError;
pub use fill::{fill_random, SplitMix64};
pub use preset::{Hparams, Preset, SynthOptions};
pub use spec::{Fill, ModelSpec, TensorSpec};
pub use tokenizer::{byte_to_unicode, min_vocab, synthetic_vocab, Vocab, BOS_TEXT, EOS_TEXT};
pub use write::{human_bytes, write_file, write_gguf};
