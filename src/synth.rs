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

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::str::FromStr;

use anyhow::{ensure, Context, Result};
use llama_cpp::gguf::{GgmlType, GgufValue, GgufWriter};
use llama_cpp::offload::tensor_layer;

use crate::partial_file::PartialFile;

// ---------------------------------------------------------------------------
// ggml types used by the presets
// ---------------------------------------------------------------------------

/// The ggml tensor types the presets use (a subset of `ggml_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dtype {
    F32,
    F16,
    BF16,
    Q8_0,
    Q4K,
    Q6K,
    Mxfp4,
}

impl Dtype {
    /// The `GgmlType` the GGUF writer takes; its sizes and name come from
    /// llama_cpp's one ggml type table.
    pub fn ggml_type(self) -> GgmlType {
        match self {
            Dtype::F32 => GgmlType::F32,
            Dtype::F16 => GgmlType::F16,
            Dtype::BF16 => GgmlType::BF16,
            Dtype::Q8_0 => GgmlType::Q8_0,
            Dtype::Q4K => GgmlType::Q4_K,
            Dtype::Q6K => GgmlType::Q6_K,
            Dtype::Mxfp4 => GgmlType::MXFP4,
        }
    }

    /// The `ggml_type` id (`ggml.h`).
    pub fn ggml_id(self) -> u32 {
        self.ggml_type().0
    }

    /// Elements per block.
    pub fn block_elems(self) -> u64 {
        self.ggml_type().block_size().expect(IN_TABLE)
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> u64 {
        self.ggml_type().type_size().expect(IN_TABLE)
    }

    /// ggml's name for the type.
    pub fn name(self) -> &'static str {
        self.ggml_type().name().expect(IN_TABLE)
    }
}

/// Every `Dtype` is a type ggml can store, so the table knows it (tested).
const IN_TABLE: &str = "every Dtype is in the ggml type table";

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

// ---------------------------------------------------------------------------
// presets
// ---------------------------------------------------------------------------

/// The models the generator can imitate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Preset {
    /// OpenAI gpt-oss-20b (`gpt-oss`): MXFP4 experts, BF16 attention/embeddings.
    GptOss20b,
    /// Microsoft Phi-3.5-MoE-instruct (`phimoe`), Q8_0.
    Phi35Moe,
    /// DeepSeek-MoE-16B (`deepseek`, v1), F16.
    DeepseekMoe16b,
    /// Qwen3-30B-A3B (`qwen3moe`), Q4_K_M-like.
    Qwen3_30bA3b,
}

impl Preset {
    /// All presets.
    pub const ALL: [Preset; 4] = [
        Preset::GptOss20b,
        Preset::Phi35Moe,
        Preset::DeepseekMoe16b,
        Preset::Qwen3_30bA3b,
    ];

    /// The CLI names, in the order of [`Preset::ALL`].
    pub const NAMES: [&'static str; 4] = [
        "gpt-oss-20b",
        "phi-3.5-moe",
        "deepseek-moe-16b",
        "qwen3-30b-a3b",
    ];

    /// The CLI name (`gpt-oss-20b`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Preset::GptOss20b => "gpt-oss-20b",
            Preset::Phi35Moe => "phi-3.5-moe",
            Preset::DeepseekMoe16b => "deepseek-moe-16b",
            Preset::Qwen3_30bA3b => "qwen3-30b-a3b",
        }
    }

    /// `general.architecture`.
    pub fn arch(self) -> &'static str {
        match self {
            Preset::GptOss20b => "gpt-oss",
            Preset::Phi35Moe => "phimoe",
            Preset::DeepseekMoe16b => "deepseek",
            Preset::Qwen3_30bA3b => "qwen3moe",
        }
    }

    /// The full-size hyper-parameters.
    pub fn hparams(self) -> Hparams {
        match self {
            Preset::GptOss20b => Hparams {
                arch: "gpt-oss",
                n_layer: 24,
                n_vocab: 201_088,
                n_embd: 2880,
                n_head: 64,
                n_head_kv: 8,
                head_dim: 64,
                n_ff: 2880,
                n_ff_exp: 2880,
                n_expert: 32,
                n_expert_used: 4,
                n_expert_shared: 0,
                n_layer_dense_lead: 0,
                n_ctx_train: 131_072,
            },
            Preset::Phi35Moe => Hparams {
                arch: "phimoe",
                n_layer: 32,
                n_vocab: 32_064,
                n_embd: 4096,
                n_head: 32,
                n_head_kv: 8,
                head_dim: 128,
                n_ff: 6400,
                n_ff_exp: 6400,
                n_expert: 16,
                n_expert_used: 2,
                n_expert_shared: 0,
                n_layer_dense_lead: 0,
                n_ctx_train: 131_072,
            },
            Preset::DeepseekMoe16b => Hparams {
                arch: "deepseek",
                n_layer: 28,
                n_vocab: 102_400,
                n_embd: 2048,
                n_head: 16,
                n_head_kv: 16,
                head_dim: 128,
                n_ff: 10_944,
                n_ff_exp: 1408,
                n_expert: 64,
                n_expert_used: 6,
                n_expert_shared: 2,
                n_layer_dense_lead: 1,
                n_ctx_train: 4096,
            },
            Preset::Qwen3_30bA3b => Hparams {
                arch: "qwen3moe",
                n_layer: 48,
                n_vocab: 151_936,
                n_embd: 2048,
                n_head: 32,
                n_head_kv: 4,
                head_dim: 128,
                n_ff: 6144,
                n_ff_exp: 768,
                n_expert: 128,
                n_expert_used: 8,
                n_expert_shared: 0,
                n_layer_dense_lead: 0,
                n_ctx_train: 40_960,
            },
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Preset {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        Preset::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .with_context(|| {
                format!(
                    "unknown preset '{s}' (expected one of {})",
                    Preset::NAMES.join(", ")
                )
            })
    }
}

/// The hyper-parameters a preset is built from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hparams {
    /// `general.architecture`.
    pub arch: &'static str,
    /// `{arch}.block_count`.
    pub n_layer: u32,
    /// Number of tokens (rows of `token_embd` / `output`).
    pub n_vocab: u32,
    /// `{arch}.embedding_length`.
    pub n_embd: u64,
    /// `{arch}.attention.head_count`.
    pub n_head: u64,
    /// `{arch}.attention.head_count_kv`.
    pub n_head_kv: u64,
    /// Per-head size of Q/K/V.
    pub head_dim: u64,
    /// `{arch}.feed_forward_length` (dense FFN; the expert FFN for phimoe).
    pub n_ff: u64,
    /// Expert FFN width (`{arch}.expert_feed_forward_length`, or `n_ff`).
    pub n_ff_exp: u64,
    /// `{arch}.expert_count`.
    pub n_expert: u64,
    /// `{arch}.expert_used_count`.
    pub n_expert_used: u64,
    /// `{arch}.expert_shared_count` (deepseek only).
    pub n_expert_shared: u64,
    /// `{arch}.leading_dense_block_count` (deepseek only).
    pub n_layer_dense_lead: u32,
    /// `{arch}.context_length`.
    pub n_ctx_train: u32,
}

/// How a preset is changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SynthOptions {
    /// Number of layers (`1..=` the preset's); everything else is kept.
    pub layers: Option<u32>,
    /// Vocabulary size override. Only meant for tests that need small files:
    /// it changes the `token_embd` / `output` shapes, so the result is no
    /// longer the real model's shape.
    pub vocab: Option<u32>,
}

// ---------------------------------------------------------------------------
// the spec
// ---------------------------------------------------------------------------

/// How a tensor's data is generated (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fill {
    /// Random valid values of the tensor's type.
    Random,
    /// Every element equal to this value (float types only).
    Const(f32),
}

/// One tensor of the file.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorSpec {
    /// GGUF tensor name, e.g. `blk.0.ffn_up_exps.weight`.
    pub name: String,
    /// Dimensions, `ne[0]` (the contiguous one) first, as in GGUF.
    pub dims: Vec<u64>,
    /// Storage type.
    pub dtype: Dtype,
    /// Data generator.
    pub fill: Fill,
}

impl TensorSpec {
    /// Number of elements.
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }

    /// Bytes of data (`ne[0]` is a multiple of the block size, checked by [`build`]).
    pub fn n_bytes(&self) -> u64 {
        self.n_elements() / self.dtype.block_elems() * self.dtype.block_bytes()
    }

    /// Whether this is one of the stacked expert tensors (`*_exps.weight`,
    /// and gpt-oss's `*_exps.bias`).
    pub fn is_expert(&self) -> bool {
        self.name.contains("_exps.")
    }

    /// The layer index for `blk.N.*` tensors.
    pub fn layer(&self) -> Option<u32> {
        tensor_layer(&self.name)
    }
}

/// Everything that goes into the file except the tensor data.
#[derive(Clone, Debug)]
pub struct ModelSpec {
    /// The preset it was built from.
    pub preset: Preset,
    /// The hyper-parameters after the options were applied.
    pub hparams: Hparams,
    /// KV pairs in file order.
    pub kv: Vec<(String, GgufValue)>,
    /// Tensors in file order.
    pub tensors: Vec<TensorSpec>,
}

impl ModelSpec {
    /// Sum of the tensors' data bytes (without alignment padding).
    pub fn tensor_bytes(&self) -> u64 {
        self.tensors.iter().map(TensorSpec::n_bytes).sum()
    }

    /// Bytes of the stacked expert tensors (weights and biases).
    pub fn expert_bytes(&self) -> u64 {
        self.tensors
            .iter()
            .filter(|t| t.is_expert())
            .map(TensorSpec::n_bytes)
            .sum()
    }

    /// Number of parameters.
    pub fn n_params(&self) -> u64 {
        self.tensors.iter().map(TensorSpec::n_elements).sum()
    }

    /// `(tensor count, bytes)` per type.
    pub fn bytes_by_type(&self) -> BTreeMap<Dtype, (usize, u64)> {
        let mut m = BTreeMap::new();
        for t in &self.tensors {
            let e = m.entry(t.dtype).or_insert((0usize, 0u64));
            e.0 += 1;
            e.1 += t.n_bytes();
        }
        m
    }

    /// A KV value by key.
    pub fn kv(&self, key: &str) -> Option<&GgufValue> {
        self.kv.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A tensor by name.
    pub fn tensor(&self, name: &str) -> Option<&TensorSpec> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// A `GgufWriter` holding the KV pairs and the tensor infos.
    pub fn gguf_writer(&self) -> Result<GgufWriter> {
        let mut w = GgufWriter::new();
        for (k, v) in &self.kv {
            w.set(k.as_str(), v.clone());
        }
        for t in &self.tensors {
            w.add_tensor(t.name.as_str(), &t.dims, t.dtype.ggml_type())
                .with_context(|| format!("adding tensor {}", t.name))?;
        }
        Ok(w)
    }

    /// The exact size of the file [`write_gguf`] writes (header, padding and
    /// data), computed by running the writer into `io::sink()` with zeros.
    pub fn file_size(&self) -> Result<u64> {
        let w = self.gguf_writer()?;
        let zeros = vec![0u8; 1 << 20];
        let n = w.write(io::sink(), |_, info, out| {
            let mut left = info.n_bytes();
            while left > 0 {
                let k = left.min(zeros.len() as u64) as usize;
                out.write_all(&zeros[..k])?;
                left -= k as u64;
            }
            Ok(())
        })?;
        Ok(n)
    }
}

// ---------------------------------------------------------------------------
// building
// ---------------------------------------------------------------------------

struct Tensors(Vec<TensorSpec>);

impl Tensors {
    fn add(&mut self, name: impl Into<String>, dims: &[u64], dtype: Dtype, fill: Fill) {
        self.0.push(TensorSpec {
            name: name.into(),
            dims: dims.to_vec(),
            dtype,
            fill,
        });
    }
    /// A norm weight: F32, all ones.
    fn norm(&mut self, name: impl Into<String>, n: u64) {
        self.add(name, &[n], Dtype::F32, Fill::Const(1.0));
    }
    /// A random F32 vector or matrix (biases, sinks, router).
    fn f32(&mut self, name: impl Into<String>, dims: &[u64]) {
        self.add(name, dims, Dtype::F32, Fill::Random);
    }
    fn w(&mut self, name: impl Into<String>, dims: &[u64], dtype: Dtype) {
        self.add(name, dims, dtype, Fill::Random);
    }
}

struct Kv {
    arch: &'static str,
    kv: Vec<(String, GgufValue)>,
}

impl Kv {
    fn set(&mut self, key: impl Into<String>, v: GgufValue) {
        self.kv.push((key.into(), v));
    }
    fn a(&self, suffix: &str) -> String {
        format!("{}.{suffix}", self.arch)
    }
    fn u32(&mut self, suffix: &str, v: impl TryInto<u32> + Copy + fmt::Debug) {
        let x: u32 = v.try_into().ok().expect("value fits u32");
        let k = self.a(suffix);
        self.set(k, GgufValue::U32(x));
    }
    fn f32(&mut self, suffix: &str, v: f32) {
        let k = self.a(suffix);
        self.set(k, GgufValue::F32(v));
    }
    fn str(&mut self, suffix: &str, v: &str) {
        let k = self.a(suffix);
        self.set(k, GgufValue::String(v.to_string()));
    }
}

// llama_ftype values (include/llama.h), for general.file_type.
const FTYPE_MOSTLY_F16: u32 = 1;
const FTYPE_MOSTLY_Q8_0: u32 = 7;
const FTYPE_MOSTLY_Q4_K_M: u32 = 15;
const FTYPE_MOSTLY_MXFP4_MOE: u32 = 38;

/// Builds the KV list and tensor list of a preset. Pure: no data, no I/O.
pub fn build(preset: Preset, opts: &SynthOptions) -> Result<ModelSpec> {
    let mut hp = preset.hparams();
    if let Some(l) = opts.layers {
        ensure!(
            (1..=hp.n_layer).contains(&l),
            "--layers must be in 1..={} for {preset} (got {l})",
            hp.n_layer
        );
        hp.n_layer = l;
    }
    if let Some(v) = opts.vocab {
        let min = min_vocab();
        ensure!(
            v >= min,
            "vocabulary override must be at least {min} (got {v})"
        );
        hp.n_vocab = v;
    }
    hp.n_layer_dense_lead = hp.n_layer_dense_lead.min(hp.n_layer);

    let mut kv = Kv {
        arch: hp.arch,
        kv: Vec::new(),
    };
    let (name, file_type) = match preset {
        Preset::GptOss20b => ("synth gpt-oss-20b (random weights)", FTYPE_MOSTLY_MXFP4_MOE),
        // must not contain "phi3"/"phi-3": llama-vocab.cpp then looks up
        // SentencePiece tokens ("</s>", "<s>", ...) by text
        Preset::Phi35Moe => ("synth phimoe 16x3.8B (random weights)", FTYPE_MOSTLY_Q8_0),
        Preset::DeepseekMoe16b => ("synth deepseek-moe-16b (random weights)", FTYPE_MOSTLY_F16),
        Preset::Qwen3_30bA3b => (
            "synth qwen3moe 30B-A3B (random weights)",
            FTYPE_MOSTLY_Q4_K_M,
        ),
    };
    kv.set("general.architecture", GgufValue::String(hp.arch.into()));
    kv.set("general.type", GgufValue::String("model".into()));
    kv.set("general.name", GgufValue::String(name.into()));
    kv.set(
        "general.description",
        GgufValue::String(format!(
            "random-weight {} shaped like {preset} ({} of {} layers), written by llama-cpp-rs-moe synth; not a usable model",
            hp.arch,
            hp.n_layer,
            preset.hparams().n_layer
        )),
    );
    kv.set("general.file_type", GgufValue::U32(file_type));
    kv.set("general.quantization_version", GgufValue::U32(2));

    let mut t = Tensors(Vec::new());
    match preset {
        Preset::GptOss20b => build_gpt_oss(&hp, &mut kv, &mut t),
        Preset::Phi35Moe => build_phimoe(&hp, &mut kv, &mut t),
        Preset::DeepseekMoe16b => build_deepseek(&hp, &mut kv, &mut t),
        Preset::Qwen3_30bA3b => build_qwen3moe(&hp, &mut kv, &mut t),
    }

    add_tokenizer(&mut kv, hp.n_vocab);

    for x in &t.0 {
        let be = x.dtype.block_elems();
        ensure!(
            x.dims[0] % be == 0,
            "{}: ne[0] = {} is not a multiple of the {} block size {be}",
            x.name,
            x.dims[0],
            x.dtype
        );
        if let Fill::Const(_) = x.fill {
            ensure!(be == 1, "{}: constant fill needs a float type", x.name);
        }
    }

    Ok(ModelSpec {
        preset,
        hparams: hp,
        kv: kv.kv,
        tensors: t.0,
    })
}

/// The common attention-less head and tail: `token_embd`, `output_norm`, `output`.
fn embeddings(t: &mut Tensors, hp: &Hparams, embd: Dtype, out: Dtype) {
    let (e, v) = (hp.n_embd, hp.n_vocab as u64);
    t.w("token_embd.weight", &[e, v], embd);
    t.norm("output_norm.weight", e);
    t.w("output.weight", &[e, v], out);
}

/// gpt-oss (`src/models/openai-moe.cpp`). Types follow the 13.8 GB
/// conversion of gpt-oss-20b: experts MXFP4 (as released), every other
/// matrix BF16 (the checkpoint's own dtype), vectors, biases, sinks and the
/// router F32.
fn build_gpt_oss(hp: &Hparams, kv: &mut Kv, t: &mut Tensors) {
    kv.u32("context_length", hp.n_ctx_train);
    kv.u32("embedding_length", hp.n_embd);
    kv.u32("block_count", hp.n_layer);
    kv.u32("feed_forward_length", hp.n_ff);
    kv.u32("attention.head_count", hp.n_head);
    kv.u32("attention.head_count_kv", hp.n_head_kv);
    // n_embd / n_head = 45, so the head size must be given explicitly
    kv.u32("attention.key_length", hp.head_dim);
    kv.u32("attention.value_length", hp.head_dim);
    kv.f32("attention.layer_norm_rms_epsilon", 1e-5);
    kv.f32("rope.freq_base", 150_000.0);
    kv.str("rope.scaling.type", "yarn");
    kv.f32("rope.scaling.factor", 32.0);
    kv.u32("rope.scaling.original_context_length", 4096u32);
    kv.u32("expert_count", hp.n_expert);
    kv.u32("expert_used_count", hp.n_expert_used);
    kv.u32("expert_feed_forward_length", hp.n_ff_exp);
    kv.u32("attention.sliding_window", 128u32);
    // llama.cpp's default for gpt-oss (written out for clarity): with period 2
    // and dense_first = false, even layers use the 128-token window, odd
    // layers full attention
    kv.u32("attention.sliding_window_pattern", 2u32);

    let (e, q, k) = (
        hp.n_embd,
        hp.n_head * hp.head_dim,
        hp.n_head_kv * hp.head_dim,
    );
    let (f, x) = (hp.n_ff_exp, hp.n_expert);
    embeddings(t, hp, Dtype::BF16, Dtype::BF16);
    for i in 0..hp.n_layer {
        let b = |s: &str| format!("blk.{i}.{s}");
        t.norm(b("attn_norm.weight"), e);
        t.norm(b("post_attention_norm.weight"), e);
        t.w(b("attn_q.weight"), &[e, q], Dtype::BF16);
        t.f32(b("attn_q.bias"), &[q]);
        t.w(b("attn_k.weight"), &[e, k], Dtype::BF16);
        t.f32(b("attn_k.bias"), &[k]);
        t.w(b("attn_v.weight"), &[e, k], Dtype::BF16);
        t.f32(b("attn_v.bias"), &[k]);
        t.w(b("attn_output.weight"), &[q, e], Dtype::BF16);
        t.f32(b("attn_output.bias"), &[e]);
        t.f32(b("attn_sinks.weight"), &[hp.n_head]);
        t.f32(b("ffn_gate_inp.weight"), &[e, x]);
        t.f32(b("ffn_gate_inp.bias"), &[x]);
        t.w(b("ffn_gate_exps.weight"), &[e, f, x], Dtype::Mxfp4);
        t.f32(b("ffn_gate_exps.bias"), &[f, x]);
        t.w(b("ffn_down_exps.weight"), &[f, e, x], Dtype::Mxfp4);
        t.f32(b("ffn_down_exps.bias"), &[e, x]);
        t.w(b("ffn_up_exps.weight"), &[e, f, x], Dtype::Mxfp4);
        t.f32(b("ffn_up_exps.bias"), &[f, x]);
    }
}

/// phimoe (`src/models/phimoe.cpp`, graph of phi3). Q8_0 for every matrix
/// except the router (F32, as llama-quant keeps `ffn_gate_inp`), vectors F32.
fn build_phimoe(hp: &Hparams, kv: &mut Kv, t: &mut Tensors) {
    kv.u32("context_length", hp.n_ctx_train);
    kv.u32("embedding_length", hp.n_embd);
    kv.u32("feed_forward_length", hp.n_ff);
    kv.u32("block_count", hp.n_layer);
    kv.u32("attention.head_count", hp.n_head);
    kv.u32("attention.head_count_kv", hp.n_head_kv);
    kv.f32("attention.layer_norm_rms_epsilon", 1e-5);
    kv.u32("rope.dimension_count", hp.head_dim);
    kv.f32("rope.freq_base", 10_000.0);
    // LongRoPE: the factors are the rope_factors_{long,short} tensors
    kv.u32("rope.scaling.original_context_length", 4096u32);
    kv.f32("rope.scaling.attn_factor", 1.190_238_1);
    kv.u32("expert_count", hp.n_expert);
    kv.u32("expert_used_count", hp.n_expert_used);

    let (e, kvd) = (hp.n_embd, hp.n_head_kv * hp.head_dim);
    let (f, x) = (hp.n_ff, hp.n_expert);
    let (e_, v) = (hp.n_embd, hp.n_vocab as u64);
    t.w("token_embd.weight", &[e_, v], Dtype::Q8_0);
    t.norm("output_norm.weight", e);
    t.f32("output_norm.bias", &[e]);
    t.w("output.weight", &[e_, v], Dtype::Q8_0);
    t.f32("output.bias", &[v]);
    // one copy shared by all layers (TENSOR_DUPLICATED for i != 0); all ones
    // = plain RoPE for both the short and the long context
    t.add(
        "rope_factors_long.weight",
        &[hp.head_dim / 2],
        Dtype::F32,
        Fill::Const(1.0),
    );
    t.add(
        "rope_factors_short.weight",
        &[hp.head_dim / 2],
        Dtype::F32,
        Fill::Const(1.0),
    );
    for i in 0..hp.n_layer {
        let b = |s: &str| format!("blk.{i}.{s}");
        t.norm(b("attn_norm.weight"), e);
        t.f32(b("attn_norm.bias"), &[e]);
        t.w(b("attn_q.weight"), &[e, e], Dtype::Q8_0);
        t.f32(b("attn_q.bias"), &[e]);
        t.w(b("attn_k.weight"), &[e, kvd], Dtype::Q8_0);
        t.f32(b("attn_k.bias"), &[kvd]);
        t.w(b("attn_v.weight"), &[e, kvd], Dtype::Q8_0);
        t.f32(b("attn_v.bias"), &[kvd]);
        t.w(b("attn_output.weight"), &[e, e], Dtype::Q8_0);
        t.f32(b("attn_output.bias"), &[e]);
        t.norm(b("ffn_norm.weight"), e);
        t.f32(b("ffn_norm.bias"), &[e]);
        t.f32(b("ffn_gate_inp.weight"), &[e, x]);
        t.w(b("ffn_gate_exps.weight"), &[e, f, x], Dtype::Q8_0);
        t.w(b("ffn_down_exps.weight"), &[f, e, x], Dtype::Q8_0);
        t.w(b("ffn_up_exps.weight"), &[e, f, x], Dtype::Q8_0);
    }
}

/// deepseek v1 (`src/models/deepseek.cpp`): F16 matrices, F32 vectors and
/// router (as `convert_hf_to_gguf.py --outtype f16` writes them).
fn build_deepseek(hp: &Hparams, kv: &mut Kv, t: &mut Tensors) {
    kv.u32("context_length", hp.n_ctx_train);
    kv.u32("embedding_length", hp.n_embd);
    kv.u32("feed_forward_length", hp.n_ff);
    kv.u32("block_count", hp.n_layer);
    kv.u32("attention.head_count", hp.n_head);
    kv.u32("attention.head_count_kv", hp.n_head_kv);
    kv.f32("attention.layer_norm_rms_epsilon", 1e-6);
    kv.u32("rope.dimension_count", hp.head_dim);
    kv.f32("rope.freq_base", 10_000.0);
    kv.u32("expert_count", hp.n_expert);
    kv.u32("expert_used_count", hp.n_expert_used);
    kv.u32("leading_dense_block_count", hp.n_layer_dense_lead);
    kv.u32("expert_feed_forward_length", hp.n_ff_exp);
    kv.u32("expert_shared_count", hp.n_expert_shared);
    kv.f32("expert_weights_scale", 1.0);

    let e = hp.n_embd;
    let (fe, x, fs) = (hp.n_ff_exp, hp.n_expert, hp.n_ff_exp * hp.n_expert_shared);
    embeddings(t, hp, Dtype::F16, Dtype::F16);
    for i in 0..hp.n_layer {
        let b = |s: &str| format!("blk.{i}.{s}");
        t.norm(b("attn_norm.weight"), e);
        t.w(b("attn_q.weight"), &[e, e], Dtype::F16);
        t.w(b("attn_k.weight"), &[e, e], Dtype::F16);
        t.w(b("attn_v.weight"), &[e, e], Dtype::F16);
        t.w(b("attn_output.weight"), &[e, e], Dtype::F16);
        t.norm(b("ffn_norm.weight"), e);
        if i < hp.n_layer_dense_lead {
            t.w(b("ffn_gate.weight"), &[e, hp.n_ff], Dtype::F16);
            t.w(b("ffn_down.weight"), &[hp.n_ff, e], Dtype::F16);
            t.w(b("ffn_up.weight"), &[e, hp.n_ff], Dtype::F16);
        } else {
            t.f32(b("ffn_gate_inp.weight"), &[e, x]);
            t.w(b("ffn_gate_exps.weight"), &[e, fe, x], Dtype::F16);
            t.w(b("ffn_down_exps.weight"), &[fe, e, x], Dtype::F16);
            t.w(b("ffn_up_exps.weight"), &[e, fe, x], Dtype::F16);
            t.w(b("ffn_gate_shexp.weight"), &[e, fs], Dtype::F16);
            t.w(b("ffn_down_shexp.weight"), &[fs, e], Dtype::F16);
            t.w(b("ffn_up_shexp.weight"), &[e, fs], Dtype::F16);
        }
    }
}

/// qwen3moe (`src/models/qwen3moe.cpp`), Q4_K_M-like: experts, Q, K, O and
/// the token embeddings Q4_K; V and `output` Q6_K (as llama-quant's Q4_K_M
/// does); router and vectors F32. Real Q4_K_M files also store about half of
/// the layers' `ffn_down_exps` as Q6_K; here every expert tensor is Q4_K so
/// all layers have the same expert size.
fn build_qwen3moe(hp: &Hparams, kv: &mut Kv, t: &mut Tensors) {
    kv.u32("context_length", hp.n_ctx_train);
    kv.u32("embedding_length", hp.n_embd);
    kv.u32("feed_forward_length", hp.n_ff);
    kv.u32("block_count", hp.n_layer);
    kv.u32("attention.head_count", hp.n_head);
    kv.u32("attention.head_count_kv", hp.n_head_kv);
    // n_embd / n_head = 64, but Qwen3's heads are 128 wide
    kv.u32("attention.key_length", hp.head_dim);
    kv.u32("attention.value_length", hp.head_dim);
    kv.f32("attention.layer_norm_rms_epsilon", 1e-6);
    kv.f32("rope.freq_base", 1_000_000.0);
    kv.u32("expert_count", hp.n_expert);
    kv.u32("expert_used_count", hp.n_expert_used);
    kv.u32("expert_feed_forward_length", hp.n_ff_exp);

    let (e, q, k) = (
        hp.n_embd,
        hp.n_head * hp.head_dim,
        hp.n_head_kv * hp.head_dim,
    );
    let (f, x) = (hp.n_ff_exp, hp.n_expert);
    embeddings(t, hp, Dtype::Q4K, Dtype::Q6K);
    for i in 0..hp.n_layer {
        let b = |s: &str| format!("blk.{i}.{s}");
        t.norm(b("attn_norm.weight"), e);
        t.w(b("attn_q.weight"), &[e, q], Dtype::Q4K);
        t.w(b("attn_k.weight"), &[e, k], Dtype::Q4K);
        t.w(b("attn_v.weight"), &[e, k], Dtype::Q6K);
        t.w(b("attn_output.weight"), &[q, e], Dtype::Q4K);
        t.norm(b("attn_k_norm.weight"), hp.head_dim);
        t.norm(b("attn_q_norm.weight"), hp.head_dim);
        t.norm(b("ffn_norm.weight"), e);
        t.f32(b("ffn_gate_inp.weight"), &[e, x]);
        t.w(b("ffn_gate_exps.weight"), &[e, f, x], Dtype::Q4K);
        t.w(b("ffn_down_exps.weight"), &[f, e, x], Dtype::Q4K);
        t.w(b("ffn_up_exps.weight"), &[e, f, x], Dtype::Q4K);
    }
}

// ---------------------------------------------------------------------------
// tokenizer
// ---------------------------------------------------------------------------

/// `llama_token_type` values (`include/llama.h`).
const TOKEN_TYPE_NORMAL: i32 = 1;
const TOKEN_TYPE_CONTROL: i32 = 3;

/// A few of GPT-2's first merges; each result is also a token. Every part of
/// a merge is a byte token or the result of an earlier merge.
const MERGES: &[&str] = &[
    "Ġ t", "Ġ a", "h e", "i n", "r e", "o n", "Ġt he", "e r", "Ġ s", "a t", "Ġ w", "Ġ o", "e n",
    "Ġ c", "i t", "i s", "a n", "o r", "e s", "Ġ b", "e d", "Ġ f", "in g", "Ġ p", "o u", "Ġa n",
    "a l", "a r", "Ġt o", "Ġ m", "Ġo f", "Ġ in", "Ġ d", "Ġ h", "Ġan d",
];

/// Text of the BOS token.
pub const BOS_TEXT: &str = "<|startoftext|>";
/// Text of the EOS token.
pub const EOS_TEXT: &str = "<|endoftext|>";

/// The smallest vocabulary the synthetic tokenizer fits in.
pub fn min_vocab() -> u32 {
    (256 + MERGES.len() + 2) as u32
}

/// GPT-2's `bytes_to_unicode`: the printable character standing for a byte.
pub fn byte_to_unicode(b: u8) -> char {
    let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    if printable {
        char::from(b)
    } else {
        // the n-th non-printable byte maps to U+0100 + n
        let n = (0..b)
            .filter(|&c| !matches!(c, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF))
            .count() as u32;
        char::from_u32(256 + n).expect("valid code point")
    }
}

/// The synthetic vocabulary: `(tokens, token types, merges, bos id, eos id)`.
///
/// Ids `0..256`: byte `i` as GPT-2 writes it; then the merge results; then
/// `<filler_N>` (normal tokens that no text tokenizes to); the last two ids
/// are the control tokens [`BOS_TEXT`] and [`EOS_TEXT`].
pub fn synthetic_vocab(n_vocab: u32) -> (Vec<String>, Vec<i32>, Vec<String>, u32, u32) {
    assert!(n_vocab >= min_vocab(), "vocabulary too small");
    let n = n_vocab as usize;
    let mut tokens: Vec<String> = (0..=255u8)
        .map(|b| byte_to_unicode(b).to_string())
        .collect();
    for m in MERGES {
        tokens.push(m.replacen(' ', "", 1));
    }
    let first_filler = tokens.len();
    for i in first_filler..n - 2 {
        tokens.push(format!("<filler_{i}>"));
    }
    tokens.push(BOS_TEXT.to_string());
    tokens.push(EOS_TEXT.to_string());
    let mut types = vec![TOKEN_TYPE_NORMAL; n];
    types[n - 2] = TOKEN_TYPE_CONTROL;
    types[n - 1] = TOKEN_TYPE_CONTROL;
    let merges = MERGES.iter().map(|s| s.to_string()).collect();
    (tokens, types, merges, n_vocab - 2, n_vocab - 1)
}

fn add_tokenizer(kv: &mut Kv, n_vocab: u32) {
    let (tokens, types, merges, bos, eos) = synthetic_vocab(n_vocab);
    kv.set("tokenizer.ggml.model", GgufValue::String("gpt2".into()));
    kv.set("tokenizer.ggml.pre", GgufValue::String("gpt-2".into()));
    kv.set(
        "tokenizer.ggml.tokens",
        GgufValue::Array(tokens.into_iter().map(GgufValue::String).collect()),
    );
    kv.set(
        "tokenizer.ggml.token_type",
        GgufValue::Array(types.into_iter().map(GgufValue::I32).collect()),
    );
    kv.set(
        "tokenizer.ggml.merges",
        GgufValue::Array(merges.into_iter().map(GgufValue::String).collect()),
    );
    kv.set("tokenizer.ggml.bos_token_id", GgufValue::U32(bos));
    kv.set("tokenizer.ggml.eos_token_id", GgufValue::U32(eos));
    kv.set("tokenizer.ggml.add_bos_token", GgufValue::Bool(true));
    kv.set("tokenizer.ggml.add_eos_token", GgufValue::Bool(false));
}

// ---------------------------------------------------------------------------
// data
// ---------------------------------------------------------------------------

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, good enough here.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator with this state.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Bytes of one random tile (rounded down to whole blocks).
const TILE_BYTES: u64 = 4 << 20;

fn fill_words(buf: &mut [u8], rng: &mut SplitMix64, f: impl Fn(u64) -> u64) {
    let mut chunks = buf.chunks_exact_mut(8);
    for c in &mut chunks {
        c.copy_from_slice(&f(rng.next_u64()).to_le_bytes());
    }
    let rem = chunks.into_remainder();
    if !rem.is_empty() {
        let w = f(rng.next_u64()).to_le_bytes();
        let n = rem.len();
        rem.copy_from_slice(&w[..n]);
    }
}

/// f16 lanes: random sign and mantissa, exponent field 6..=9 (2^-9 ..= 2^-6).
#[inline]
fn f16_lanes(r: u64) -> u64 {
    (r & 0x83FF_83FF_83FF_83FF)
        | ((((r >> 10) & 0x0003_0003_0003_0003) + 0x0006_0006_0006_0006) << 10)
}

/// bf16 lanes: random sign and mantissa, exponent field 118..=121 (2^-9 ..= 2^-6).
#[inline]
fn bf16_lanes(r: u64) -> u64 {
    (r & 0x807F_807F_807F_807F)
        | ((((r >> 7) & 0x0003_0003_0003_0003) + 0x0076_0076_0076_0076) << 7)
}

/// f32 lanes: random sign and mantissa, exponent field 118..=121 (2^-9 ..= 2^-6).
#[inline]
fn f32_lanes(r: u64) -> u64 {
    (r & 0x807F_FFFF_807F_FFFF)
        | ((((r >> 23) & 0x0000_0003_0000_0003) + 0x0000_0076_0000_0076) << 23)
}

/// Sets the f16 at `b[at..at + 2]` to a positive normal number with exponent
/// field `exp` and the mantissa it already had (random).
#[inline]
fn patch_f16(b: &mut [u8], at: usize, exp: u16) {
    let x = u16::from_le_bytes([b[at], b[at + 1]]);
    let d = (x & 0x03FF) | (exp << 10);
    b[at..at + 2].copy_from_slice(&d.to_le_bytes());
}

/// Fills `buf` (a whole number of blocks) with random valid data of `dtype`.
pub fn fill_random(dtype: Dtype, buf: &mut [u8], rng: &mut SplitMix64) {
    let bb = dtype.block_bytes() as usize;
    assert_eq!(buf.len() % bb, 0, "buffer is not a whole number of blocks");
    match dtype {
        Dtype::F32 => fill_words(buf, rng, f32_lanes),
        Dtype::F16 => fill_words(buf, rng, f16_lanes),
        Dtype::BF16 => fill_words(buf, rng, bf16_lanes),
        Dtype::Q8_0 => {
            fill_words(buf, rng, |r| r);
            for b in buf.chunks_exact_mut(bb) {
                patch_f16(b, 0, 3); // d in [2^-12, 2^-11)
            }
        }
        Dtype::Q4K => {
            fill_words(buf, rng, |r| r);
            for b in buf.chunks_exact_mut(bb) {
                patch_f16(b, 0, 1); // d in [2^-14, 2^-13)
                patch_f16(b, 2, 1); // dmin in [2^-14, 2^-13)
            }
        }
        Dtype::Q6K => {
            fill_words(buf, rng, |r| r);
            for b in buf.chunks_exact_mut(bb) {
                patch_f16(b, 208, 1); // d in [2^-14, 2^-13)
            }
        }
        Dtype::Mxfp4 => {
            fill_words(buf, rng, |r| r);
            for b in buf.chunks_exact_mut(bb) {
                b[0] = 118 + (b[0] & 3); // E8M0 scale 2^-9 ..= 2^-6
            }
        }
    }
}

/// IEEE half from f32 (round to nearest even; normal range and zero, which
/// is all the constants here need).
fn f32_to_f16_bits(x: f32) -> u16 {
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xFF) as i32 - 127 + 15;
    let man = b & 0x7F_FFFF;
    if x == 0.0 {
        return sign;
    }
    assert!(
        (1..31).contains(&exp),
        "constant {x} is out of the f16 normal range"
    );
    let mut h = ((exp as u32) << 10) | (man >> 13);
    let rest = man & 0x1FFF;
    if rest > 0x1000 || (rest == 0x1000 && (h & 1) == 1) {
        h += 1;
    }
    sign | h as u16
}

fn fill_const(dtype: Dtype, value: f32, buf: &mut [u8]) {
    match dtype {
        Dtype::F32 => {
            for c in buf.chunks_exact_mut(4) {
                c.copy_from_slice(&value.to_le_bytes());
            }
        }
        Dtype::F16 => {
            let h = f32_to_f16_bits(value).to_le_bytes();
            for c in buf.chunks_exact_mut(2) {
                c.copy_from_slice(&h);
            }
        }
        Dtype::BF16 => {
            let b = value.to_bits();
            let h = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) as u16;
            for c in buf.chunks_exact_mut(2) {
                c.copy_from_slice(&h.to_le_bytes());
            }
        }
        _ => unreachable!("constant fill of a quantized type (rejected by build)"),
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum TileKey {
    Random(Dtype),
    Const(Dtype, u32),
}

/// The tiles of valid blocks the tensors are cut from.
struct Tiles {
    seed: u64,
    tiles: HashMap<TileKey, Vec<u8>>,
}

impl Tiles {
    fn new(seed: u64) -> Self {
        Tiles {
            seed,
            tiles: HashMap::new(),
        }
    }

    fn tile(&mut self, dtype: Dtype, fill: Fill) -> &[u8] {
        let key = match fill {
            Fill::Random => TileKey::Random(dtype),
            Fill::Const(v) => TileKey::Const(dtype, v.to_bits()),
        };
        let seed = self.seed;
        self.tiles.entry(key).or_insert_with(|| {
            let bb = dtype.block_bytes();
            let mut buf = vec![0u8; (TILE_BYTES / bb * bb) as usize];
            match fill {
                Fill::Random => {
                    let mut rng = SplitMix64::new(mix(seed, 0x7117_0000 + dtype.ggml_id() as u64));
                    fill_random(dtype, &mut buf, &mut rng);
                }
                Fill::Const(v) => fill_const(dtype, v, &mut buf),
            }
            buf
        })
    }

    /// Writes the `index`-th tensor's data: random block-aligned suffixes of
    /// the tile (each starting in its first half) until `spec.n_bytes()`.
    fn stream(
        &mut self,
        index: usize,
        spec: &TensorSpec,
        out: &mut dyn Write,
        progress: &mut dyn FnMut(u64),
    ) -> io::Result<()> {
        let bb = spec.dtype.block_bytes();
        let mut rng = SplitMix64::new(mix(self.seed, index as u64 + 1));
        let tile = self.tile(spec.dtype, spec.fill);
        let half_blocks = (tile.len() as u64 / bb).div_ceil(2);
        let mut left = spec.n_bytes();
        while left > 0 {
            let start = (rng.next_u64() % half_blocks * bb) as usize;
            let n = left.min((tile.len() - start) as u64) as usize;
            out.write_all(&tile[start..start + n])?;
            left -= n as u64;
            progress(n as u64);
        }
        Ok(())
    }
}

/// Mixes a seed and a stream id into a generator state.
fn mix(seed: u64, stream: u64) -> u64 {
    let mut g = SplitMix64::new(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
    g.next_u64()
}

/// Writes the GGUF file of `spec` to `out`, calling `progress` with the
/// number of tensor-data bytes written so far. Returns the bytes written.
pub fn write_gguf<W: Write>(
    spec: &ModelSpec,
    out: W,
    seed: u64,
    progress: &mut dyn FnMut(u64),
) -> Result<u64> {
    let writer = spec.gguf_writer()?;
    let mut tiles = Tiles::new(seed);
    let mut done = 0u64;
    let n = writer.write(out, |i, info, w| {
        let t = &spec.tensors[i];
        debug_assert_eq!(info.name, t.name);
        if info.n_bytes() != t.n_bytes() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: writer expects {} bytes, synth computed {}",
                    t.name,
                    info.n_bytes(),
                    t.n_bytes()
                ),
            ));
        }
        tiles.stream(i, t, w, &mut |k| {
            done += k;
            progress(done);
        })
    })?;
    Ok(n)
}

/// Writes the file to `path` (through `path.partial`, renamed at the end so
/// an interrupted run leaves no truncated model behind). Returns its size.
pub fn write_file(
    spec: &ModelSpec,
    path: &Path,
    seed: u64,
    progress: &mut dyn FnMut(u64),
) -> Result<u64> {
    let (partial, file) =
        PartialFile::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = BufWriter::with_capacity(8 << 20, file);
    let n = write_gguf(spec, &mut w, seed, progress)?;
    w.into_inner().map_err(|e| e.into_error())?;
    partial
        .commit()
        .with_context(|| format!("renaming to {}", path.display()))?;
    Ok(n)
}

/// Formats a byte count as GB (10^9) and GiB.
pub fn human_bytes(n: u64) -> String {
    format!(
        "{:.2} GB / {:.2} GiB",
        n as f64 / 1e9,
        n as f64 / (1u64 << 30) as f64
    )
}

// ---------------------------------------------------------------------------
// tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(p: Preset, layers: Option<u32>) -> ModelSpec {
        build(
            p,
            &SynthOptions {
                layers,
                vocab: None,
            },
        )
        .unwrap()
    }

    fn u32_kv(s: &ModelSpec, key: &str) -> u32 {
        match s.kv(key) {
            Some(GgufValue::U32(x)) => *x,
            other => panic!("{key}: {other:?}"),
        }
    }

    #[test]
    fn tensor_counts() {
        // per layer: gpt-oss 19, phimoe 16, deepseek 9 (dense) / 13 (moe), qwen3moe 12
        assert_eq!(spec(Preset::GptOss20b, None).tensors.len(), 3 + 24 * 19);
        assert_eq!(spec(Preset::Phi35Moe, None).tensors.len(), 7 + 32 * 16);
        assert_eq!(
            spec(Preset::DeepseekMoe16b, None).tensors.len(),
            3 + 9 + 27 * 13
        );
        assert_eq!(spec(Preset::Qwen3_30bA3b, None).tensors.len(), 3 + 48 * 12);
    }

    #[test]
    fn names_are_unique_and_dims_block_aligned() {
        for p in Preset::ALL {
            let s = spec(p, None);
            let mut names: Vec<_> = s.tensors.iter().map(|t| t.name.as_str()).collect();
            names.sort_unstable();
            let n = names.len();
            names.dedup();
            assert_eq!(names.len(), n, "{p}: duplicate tensor names");
            for t in &s.tensors {
                assert_eq!(t.dims[0] % t.dtype.block_elems(), 0, "{}", t.name);
                assert!(t.dims.len() <= 4);
            }
        }
    }

    #[test]
    fn expert_shapes() {
        let cases = [
            (Preset::GptOss20b, 2880, 2880, 32, Dtype::Mxfp4, 24),
            (Preset::Phi35Moe, 4096, 6400, 16, Dtype::Q8_0, 32),
            (Preset::DeepseekMoe16b, 2048, 1408, 64, Dtype::F16, 27),
            (Preset::Qwen3_30bA3b, 2048, 768, 128, Dtype::Q4K, 48),
        ];
        for (p, e, f, x, ty, moe_layers) in cases {
            let s = spec(p, None);
            let last = s.hparams.n_layer - 1;
            let up = s.tensor(&format!("blk.{last}.ffn_up_exps.weight")).unwrap();
            let gate = s
                .tensor(&format!("blk.{last}.ffn_gate_exps.weight"))
                .unwrap();
            let down = s
                .tensor(&format!("blk.{last}.ffn_down_exps.weight"))
                .unwrap();
            assert_eq!(up.dims, vec![e, f, x], "{p}");
            assert_eq!(gate.dims, vec![e, f, x], "{p}");
            assert_eq!(down.dims, vec![f, e, x], "{p}");
            assert!([up, gate, down].iter().all(|t| t.dtype == ty), "{p}");
            let router = s
                .tensor(&format!("blk.{last}.ffn_gate_inp.weight"))
                .unwrap();
            assert_eq!(router.dims, vec![e, x]);
            assert_eq!(router.dtype, Dtype::F32);
            let n_exp_weights = s
                .tensors
                .iter()
                .filter(|t| t.is_expert() && t.name.ends_with(".weight"))
                .count();
            assert_eq!(n_exp_weights, 3 * moe_layers, "{p}");
            assert_eq!(u32_kv(&s, &format!("{}.expert_count", p.arch())) as u64, x);
        }
        // deepseek: first layer dense, shared experts on the others
        let s = spec(Preset::DeepseekMoe16b, None);
        assert_eq!(
            s.tensor("blk.0.ffn_up.weight").unwrap().dims,
            vec![2048, 10944]
        );
        assert!(s.tensor("blk.0.ffn_up_exps.weight").is_none());
        assert_eq!(
            s.tensor("blk.1.ffn_up_shexp.weight").unwrap().dims,
            vec![2048, 2816]
        );
        assert_eq!(
            s.tensor("blk.1.ffn_down_shexp.weight").unwrap().dims,
            vec![2816, 2048]
        );
        assert_eq!(u32_kv(&s, "deepseek.leading_dense_block_count"), 1);
    }

    #[test]
    fn attention_shapes() {
        let s = spec(Preset::GptOss20b, None);
        assert_eq!(
            s.tensor("blk.3.attn_q.weight").unwrap().dims,
            vec![2880, 4096]
        );
        assert_eq!(
            s.tensor("blk.3.attn_k.weight").unwrap().dims,
            vec![2880, 512]
        );
        assert_eq!(
            s.tensor("blk.3.attn_output.weight").unwrap().dims,
            vec![4096, 2880]
        );
        assert_eq!(s.tensor("blk.3.attn_sinks.weight").unwrap().dims, vec![64]);
        assert_eq!(
            s.tensor("token_embd.weight").unwrap().dims,
            vec![2880, 201088]
        );
        let s = spec(Preset::Qwen3_30bA3b, None);
        assert_eq!(
            s.tensor("blk.0.attn_q.weight").unwrap().dims,
            vec![2048, 4096]
        );
        assert_eq!(
            s.tensor("blk.0.attn_k.weight").unwrap().dims,
            vec![2048, 512]
        );
        assert_eq!(
            s.tensor("blk.0.attn_q_norm.weight").unwrap().dims,
            vec![128]
        );
        let s = spec(Preset::Phi35Moe, None);
        assert_eq!(
            s.tensor("blk.0.attn_k.weight").unwrap().dims,
            vec![4096, 1024]
        );
        assert_eq!(s.tensor("rope_factors_long.weight").unwrap().dims, vec![64]);
        assert_eq!(s.tensor("output.bias").unwrap().dims, vec![32064]);
    }

    #[test]
    fn shrunk_preset_keeps_per_layer_shapes() {
        for p in Preset::ALL {
            let full = spec(p, None);
            let small = spec(p, Some(2));
            assert_eq!(u32_kv(&small, &format!("{}.block_count", p.arch())), 2);
            assert!(small
                .tensors
                .iter()
                .all(|t| t.layer().is_none_or(|l| l < 2)));
            for t in &small.tensors {
                let f = full
                    .tensor(&t.name)
                    .unwrap_or_else(|| panic!("{p}: {} missing", t.name));
                assert_eq!(f, t, "{p}");
            }
            // same KV except the layer count and description
            for (k, v) in &small.kv {
                if k.ends_with(".block_count") || k == "general.description" {
                    continue;
                }
                assert_eq!(Some(v), full.kv(k), "{p}: {k}");
            }
            assert_eq!(small.kv.len(), full.kv.len());
        }
    }

    #[test]
    fn full_sizes_are_near_the_real_files() {
        let gb = |p| spec(p, None).tensor_bytes() as f64 / 1e9;
        let g = gb(Preset::GptOss20b);
        assert!((13.6..14.0).contains(&g), "gpt-oss {g}");
        let g = gb(Preset::Phi35Moe);
        assert!((44.0..45.5).contains(&g), "phimoe {g}");
        let g = gb(Preset::DeepseekMoe16b);
        assert!((32.5..33.0).contains(&g), "deepseek {g}");
        let g = gb(Preset::Qwen3_30bA3b);
        assert!((17.0..18.7).contains(&g), "qwen3moe {g}");
    }

    #[test]
    fn layer_and_vocab_limits() {
        assert!(build(
            Preset::GptOss20b,
            &SynthOptions {
                layers: Some(0),
                vocab: None
            }
        )
        .is_err());
        assert!(build(
            Preset::GptOss20b,
            &SynthOptions {
                layers: Some(25),
                vocab: None
            }
        )
        .is_err());
        assert!(build(
            Preset::GptOss20b,
            &SynthOptions {
                layers: None,
                vocab: Some(100)
            }
        )
        .is_err());
        let s = build(
            Preset::Phi35Moe,
            &SynthOptions {
                layers: Some(1),
                vocab: Some(1000),
            },
        )
        .unwrap();
        assert_eq!(s.tensor("output.weight").unwrap().dims, vec![4096, 1000]);
        match s.kv("tokenizer.ggml.tokens") {
            Some(GgufValue::Array(a)) => assert_eq!(a.len(), 1000),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn general_name_avoids_phi3_rules() {
        for p in Preset::ALL {
            let s = spec(p, Some(1));
            let Some(GgufValue::String(n)) = s.kv("general.name") else {
                panic!()
            };
            let n = n.to_lowercase();
            assert!(!n.contains("phi3") && !n.contains("phi-3"), "{n}");
            let Some(GgufValue::String(a)) = s.kv("general.architecture") else {
                panic!()
            };
            assert_eq!(a, p.arch());
        }
    }

    #[test]
    fn vocab_is_consistent() {
        let (tokens, types, merges, bos, eos) = synthetic_vocab(1000);
        assert_eq!(tokens.len(), 1000);
        assert_eq!(types.len(), 1000);
        let set: std::collections::HashSet<_> = tokens.iter().collect();
        assert_eq!(set.len(), tokens.len(), "token texts must be unique");
        assert_eq!(tokens[bos as usize], BOS_TEXT);
        assert_eq!(tokens[eos as usize], EOS_TEXT);
        assert_eq!(byte_to_unicode(b' '), 'Ġ');
        assert_eq!(byte_to_unicode(b'\n'), 'Ċ');
        assert_eq!(byte_to_unicode(b'a'), 'a');
        assert_eq!(byte_to_unicode(0), '\u{100}');
        assert_eq!(byte_to_unicode(0xAD), '\u{143}');
        for m in &merges {
            let (a, b) = m.split_once(' ').unwrap();
            assert!(
                set.contains(&a.to_string()) && set.contains(&b.to_string()),
                "{m}"
            );
            assert!(set.contains(&format!("{a}{b}")), "{m}");
        }
    }

    fn f16_to_f32(h: u16) -> f32 {
        let e = ((h >> 10) & 0x1F) as i32;
        let m = (h & 0x3FF) as f32;
        let s = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
        match e {
            0 => s * m * 2f32.powi(-24),
            31 => f32::NAN,
            _ => s * (1.0 + m / 1024.0) * 2f32.powi(e - 15),
        }
    }

    #[test]
    fn random_values_are_finite_and_small() {
        let mut rng = SplitMix64::new(1);
        let mut buf = vec![0u8; 4096];
        fill_random(Dtype::F32, &mut buf, &mut rng);
        for c in buf.chunks_exact(4) {
            let x = f32::from_le_bytes(c.try_into().unwrap()).abs();
            assert!((2f32.powi(-9)..2f32.powi(-5)).contains(&x), "{x}");
        }
        fill_random(Dtype::F16, &mut buf, &mut rng);
        for c in buf.chunks_exact(2) {
            let x = f16_to_f32(u16::from_le_bytes([c[0], c[1]])).abs();
            assert!((2f32.powi(-9)..2f32.powi(-5)).contains(&x), "{x}");
        }
        fill_random(Dtype::BF16, &mut buf, &mut rng);
        for c in buf.chunks_exact(2) {
            let x = f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16).abs();
            assert!((2f32.powi(-9)..2f32.powi(-5)).contains(&x), "{x}");
        }
        let mut q = vec![0u8; 34 * 100];
        fill_random(Dtype::Q8_0, &mut q, &mut rng);
        for b in q.chunks_exact(34) {
            let d = f16_to_f32(u16::from_le_bytes([b[0], b[1]]));
            assert!((2f32.powi(-12)..2f32.powi(-11)).contains(&d), "{d}");
        }
        let mut q = vec![0u8; 17 * 100];
        fill_random(Dtype::Mxfp4, &mut q, &mut rng);
        assert!(q.chunks_exact(17).all(|b| (118..=121).contains(&b[0])));
        let mut q = vec![0u8; 144 * 10];
        fill_random(Dtype::Q4K, &mut q, &mut rng);
        for b in q.chunks_exact(144) {
            for at in [0, 2] {
                let d = f16_to_f32(u16::from_le_bytes([b[at], b[at + 1]]));
                assert!((2f32.powi(-14)..2f32.powi(-13)).contains(&d), "{d}");
            }
        }
        let mut q = vec![0u8; 210 * 10];
        fill_random(Dtype::Q6K, &mut q, &mut rng);
        for b in q.chunks_exact(210) {
            let d = f16_to_f32(u16::from_le_bytes([b[208], b[209]]));
            assert!((2f32.powi(-14)..2f32.powi(-13)).contains(&d), "{d}");
        }
    }

    #[test]
    fn dtypes_are_in_the_ggml_type_table() {
        let all = [
            Dtype::F32,
            Dtype::F16,
            Dtype::BF16,
            Dtype::Q8_0,
            Dtype::Q4K,
            Dtype::Q6K,
            Dtype::Mxfp4,
        ];
        let sizes: Vec<_> = all
            .iter()
            .map(|d| (d.name(), d.ggml_id(), d.block_elems(), d.block_bytes()))
            .collect();
        // The block layouts the fills in this module write (see the module docs).
        assert_eq!(
            sizes,
            [
                ("f32", 0, 1, 4),
                ("f16", 1, 1, 2),
                ("bf16", 30, 1, 2),
                ("q8_0", 8, 32, 34),
                ("q4_K", 12, 256, 144),
                ("q6_K", 14, 256, 210),
                ("mxfp4", 39, 32, 17),
            ]
        );
    }

    #[test]
    fn constants() {
        assert_eq!(f32_to_f16_bits(1.0), 0x3C00);
        assert_eq!(f32_to_f16_bits(-2.0), 0xC000);
        let mut b = [0u8; 8];
        fill_const(Dtype::BF16, 1.0, &mut b);
        assert_eq!(b, [0x80, 0x3F, 0x80, 0x3F, 0x80, 0x3F, 0x80, 0x3F]);
    }

    #[test]
    fn streamed_bytes_match_sizes_and_seed() {
        let s = build(
            Preset::DeepseekMoe16b,
            &SynthOptions {
                layers: Some(1),
                vocab: Some(512),
            },
        )
        .unwrap();
        let write = |seed| {
            let mut out = Vec::new();
            let n = write_gguf(&s, &mut out, seed, &mut |_| {}).unwrap();
            assert_eq!(n, out.len() as u64);
            out
        };
        let a = write(7);
        assert_eq!(a.len() as u64, s.file_size().unwrap());
        assert!(a.len() as u64 > s.tensor_bytes());
        assert_eq!(&a[..4], b"GGUF");
        assert_eq!(a, write(7), "same seed, same bytes");
        assert_ne!(a, write(8));
    }
}
