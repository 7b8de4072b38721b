//! The per-architecture tensor lists and hyper-parameter keys, each checked
//! against the graph-building code of the pinned llama.cpp.

use super::builder::{embeddings, Kv, Tensors};
use super::{Dtype, Fill, Hparams};

/// The size and attention-head keys every architecture has, written first.
fn common_keys(kv: &mut Kv, hp: &Hparams) {
    kv.u32("context_length", hp.n_ctx_train);
    kv.u32("embedding_length", hp.n_embd);
    kv.u32("feed_forward_length", hp.n_ff);
    kv.u32("block_count", hp.n_layer);
    kv.u32("attention.head_count", hp.n_head);
    kv.u32("attention.head_count_kv", hp.n_head_kv);
}

/// The expert count and top-k every architecture has.
fn expert_keys(kv: &mut Kv, hp: &Hparams) {
    kv.u32("expert_count", hp.n_expert);
    kv.u32("expert_used_count", hp.n_expert_used);
}

/// gpt-oss (`src/models/openai-moe.cpp`). Types follow the 13.8 GB
/// conversion of gpt-oss-20b: experts MXFP4 (as released), every other
/// matrix BF16 (the checkpoint's own dtype), vectors, biases, sinks and the
/// router F32.
pub(super) fn build_gpt_oss(hp: &Hparams, kv: &mut Kv, t: &mut Tensors) {
    common_keys(kv, hp);
    // n_embd / n_head = 45, so the head size must be given explicitly
    kv.u32("attention.key_length", hp.head_dim);
    kv.u32("attention.value_length", hp.head_dim);
    kv.f32("attention.layer_norm_rms_epsilon", 1e-5);
    kv.f32("rope.freq_base", 150_000.0);
    kv.str("rope.scaling.type", "yarn");
    kv.f32("rope.scaling.factor", 32.0);
    kv.u32("rope.scaling.original_context_length", 4096u32);
    expert_keys(kv, hp);
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
pub(super) fn build_phimoe(hp: &Hparams, kv: &mut Kv, t: &mut Tensors) {
    common_keys(kv, hp);
    kv.f32("attention.layer_norm_rms_epsilon", 1e-5);
    kv.u32("rope.dimension_count", hp.head_dim);
    kv.f32("rope.freq_base", 10_000.0);
    // LongRoPE: the factors are the rope_factors_{long,short} tensors
    kv.u32("rope.scaling.original_context_length", 4096u32);
    kv.f32("rope.scaling.attn_factor", 1.190_238_1);
    expert_keys(kv, hp);

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
pub(super) fn build_deepseek(hp: &Hparams, kv: &mut Kv, t: &mut Tensors) {
    common_keys(kv, hp);
    kv.f32("attention.layer_norm_rms_epsilon", 1e-6);
    kv.u32("rope.dimension_count", hp.head_dim);
    kv.f32("rope.freq_base", 10_000.0);
    expert_keys(kv, hp);
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
pub(super) fn build_qwen3moe(hp: &Hparams, kv: &mut Kv, t: &mut Tensors) {
    common_keys(kv, hp);
    // n_embd / n_head = 64, but Qwen3's heads are 128 wide
    kv.u32("attention.key_length", hp.head_dim);
    kv.u32("attention.value_length", hp.head_dim);
    kv.f32("attention.layer_norm_rms_epsilon", 1e-6);
    kv.f32("rope.freq_base", 1_000_000.0);
    expert_keys(kv, hp);
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
