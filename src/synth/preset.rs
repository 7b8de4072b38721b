//! The four models the generator imitates and their hyper-parameters.

use std::fmt;
use std::str::FromStr;

use super::SynthError;

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
    type Err = SynthError;

    fn from_str(s: &str) -> Result<Self, SynthError> {
        Preset::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| SynthError::UnknownPreset { name: s.to_owned() })
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
