//! Builds a preset's [`ModelSpec`]: the KV pairs and tensor list llama.cpp
//! expects, before any data exists.

use std::fmt;

use llama_cpp::gguf::GgufValue;

use super::arch::{build_deepseek, build_gpt_oss, build_phimoe, build_qwen3moe};
use super::tokenizer::add_tokenizer;
use super::{
    min_vocab, Dtype, Fill, Hparams, ModelSpec, Preset, SynthError, SynthOptions, TensorSpec,
};

pub(super) struct Tensors(Vec<TensorSpec>);

impl Tensors {
    pub(super) fn add(&mut self, name: impl Into<String>, dims: &[u64], dtype: Dtype, fill: Fill) {
        self.0.push(TensorSpec {
            name: name.into(),
            dims: dims.to_vec(),
            dtype,
            fill,
        });
    }
    /// A norm weight: F32, all ones.
    pub(super) fn norm(&mut self, name: impl Into<String>, n: u64) {
        self.add(name, &[n], Dtype::F32, Fill::Const(1.0));
    }
    /// A random F32 vector or matrix (biases, sinks, router).
    pub(super) fn f32(&mut self, name: impl Into<String>, dims: &[u64]) {
        self.add(name, dims, Dtype::F32, Fill::Random);
    }
    pub(super) fn w(&mut self, name: impl Into<String>, dims: &[u64], dtype: Dtype) {
        self.add(name, dims, dtype, Fill::Random);
    }
}

pub(super) struct Kv {
    arch: &'static str,
    kv: Vec<(String, GgufValue)>,
}

impl Kv {
    pub(super) fn set(&mut self, key: impl Into<String>, v: GgufValue) {
        self.kv.push((key.into(), v));
    }
    fn a(&self, suffix: &str) -> String {
        format!("{}.{suffix}", self.arch)
    }
    pub(super) fn u32(&mut self, suffix: &str, v: impl TryInto<u32> + Copy + fmt::Debug) {
        let x: u32 = v.try_into().ok().expect("value fits u32");
        let k = self.a(suffix);
        self.set(k, GgufValue::U32(x));
    }
    pub(super) fn f32(&mut self, suffix: &str, v: f32) {
        let k = self.a(suffix);
        self.set(k, GgufValue::F32(v));
    }
    pub(super) fn str(&mut self, suffix: &str, v: &str) {
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
pub fn build(preset: Preset, opts: &SynthOptions) -> Result<ModelSpec, SynthError> {
    let mut hp = preset.hparams();
    if let Some(l) = opts.layers {
        if !(1..=hp.n_layer).contains(&l) {
            return Err(SynthError::LayersOutOfRange {
                preset,
                layers: l,
                max: hp.n_layer,
            });
        }
        hp.n_layer = l;
    }
    if let Some(v) = opts.vocab {
        let min = min_vocab();
        if v < min {
            return Err(SynthError::VocabTooSmall { vocab: v, min });
        }
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

    add_tokenizer(&mut kv, hp.n_vocab)?;

    for x in &t.0 {
        let be = x.dtype.block_elems();
        if x.dims[0] % be != 0 {
            return Err(SynthError::PartialBlock {
                tensor: x.name.clone(),
                ne0: x.dims[0],
                dtype: x.dtype,
                block: be,
            });
        }
        if matches!(x.fill, Fill::Const(_)) && be != 1 {
            return Err(SynthError::ConstFillNotFloat {
                tensor: x.name.clone(),
            });
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
pub(super) fn embeddings(t: &mut Tensors, hp: &Hparams, embd: Dtype, out: Dtype) {
    let (e, v) = (hp.n_embd, hp.n_vocab as u64);
    t.w("token_embd.weight", &[e, v], embd);
    t.norm("output_norm.weight", e);
    t.w("output.weight", &[e, v], out);
}
