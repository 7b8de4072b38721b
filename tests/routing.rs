//! The routing probe on the test MoE (`make models`: SmolLM2 upcycled to 30
//! layers of 4 experts, top-1, random router): it sees every layer and every
//! ubatch, counts each token's choice once, and only observes.

use llama_cpp::routing::RoutingProbe;
use llama_cpp::{
    AddBos, LlamaBackend, LlamaBatch, LlamaContextParams, LlamaModel, LlamaModelParams,
};
use llama_cpp_rs_moe::models::{dense_test_model, moe_test_model, require};
use std::num::NonZeroU32;
use std::path::Path;

const PROMPT: &str = "The history of the printing press begins in the fifteenth century, when \
    movable type changed how books were made, sold and read across Europe and beyond.";

fn load(backend: &LlamaBackend, path: &Path) -> LlamaModel {
    let params = LlamaModelParams::default().with_n_gpu_layers(0);
    LlamaModel::load_from_file(backend, path, &params).expect("model loads")
}

/// Everything on the CPU, on a GPU build too (no op offload): the GPU's
/// fused router kernels could round differently once the probe splits the
/// graph at the router, and `probing_does_not_change_the_result` compares
/// logits exactly.
fn params(n_ubatch: u32) -> LlamaContextParams {
    LlamaContextParams::default()
        .with_op_offload(false)
        .with_n_ctx(NonZeroU32::new(256))
        .with_n_batch(256)
        .with_n_ubatch(n_ubatch)
        .with_n_threads(2)
        .with_n_threads_batch(2)
}

/// Decodes the prompt in one batch; returns the last token's logits.
fn decode_prompt(
    backend: &LlamaBackend,
    model: &LlamaModel,
    params: LlamaContextParams,
) -> Vec<f32> {
    let tokens = model.str_to_token(PROMPT, AddBos::Always).unwrap();
    let mut ctx = model.new_context(backend, params).unwrap();
    let mut batch = LlamaBatch::new(tokens.len(), 1);
    batch.add_sequence(&tokens, 0, false).unwrap();
    ctx.decode(&mut batch).unwrap();
    ctx.get_logits_ith(tokens.len() as i32 - 1)
        .unwrap()
        .to_vec()
}

#[test]
fn probe_sees_every_layer_and_ubatch() {
    let backend = LlamaBackend::init().unwrap();
    let model = load(&backend, &require(moe_test_model()));
    let n_tokens = model.str_to_token(PROMPT, AddBos::Always).unwrap().len();
    let n_ubatch = 8;
    assert!(n_tokens > 2 * n_ubatch, "the prompt spans several ubatches");

    let probe = RoutingProbe::new();
    decode_prompt(
        &backend,
        &model,
        params(n_ubatch as u32).with_routing_probe(&probe),
    );
    let stats = probe.stats();

    assert_eq!(stats.unreadable, 0);
    assert_eq!(
        stats.layers.keys().copied().collect::<Vec<_>>(),
        (0..30).collect::<Vec<_>>()
    );
    let expected_ubatches: Vec<u32> = (0..n_tokens)
        .step_by(n_ubatch)
        .map(|start| (n_tokens - start).min(n_ubatch) as u32)
        .collect();
    // The last layer computes only the token that outputs logits (the last
    // one), in the last ubatch; the others compute nothing there.
    let mut last_layer = vec![0; expected_ubatches.len()];
    *last_layer.last_mut().unwrap() = 1;
    for (layer, routing) in &stats.layers {
        let (expected, n) = if *layer == 29 {
            (&last_layer, 1)
        } else {
            (&expected_ubatches, n_tokens)
        };
        assert_eq!(routing.experts_per_token, 1, "layer {layer}");
        let tokens: Vec<u32> = routing.ubatches.iter().map(|u| u.tokens).collect();
        assert_eq!(&tokens, expected, "layer {layer}: one record per ubatch");
        // Top-1: every token counted once, on one of the 4 experts.
        assert!(routing.tokens_per_expert.len() <= 4, "layer {layer}");
        assert_eq!(routing.tokens_per_expert.iter().sum::<u64>(), n as u64);
        for u in &routing.ubatches {
            assert!(
                (u.tokens.min(1)..=u.tokens.min(4)).contains(&u.distinct),
                "layer {layer}: {u:?}"
            );
        }
    }
    // A random router does not send every token of every layer to one expert.
    assert!(stats.layers.values().any(|r| r.mean_distinct() > 1.0));

    probe.reset();
    assert_eq!(probe.stats(), Default::default());
}

#[test]
fn probing_does_not_change_the_result() {
    let backend = LlamaBackend::init().unwrap();
    let model = load(&backend, &require(moe_test_model()));
    let plain = decode_prompt(&backend, &model, params(16));
    let probe = RoutingProbe::new();
    let probed = decode_prompt(&backend, &model, params(16).with_routing_probe(&probe));
    assert_eq!(plain, probed);
    assert!(!probe.stats().layers.is_empty());
}

#[test]
fn the_context_keeps_the_probe_alive() {
    let backend = LlamaBackend::init().unwrap();
    let model = load(&backend, &require(moe_test_model()));
    let tokens = model.str_to_token(PROMPT, AddBos::Always).unwrap();
    let probe = RoutingProbe::new();
    let mut ctx = {
        let params = params(32).with_routing_probe(&probe);
        model.new_context(&backend, params).unwrap()
        // The params are dropped here; the context still holds the state.
    };
    let copy = probe.clone();
    drop(probe);
    let mut batch = LlamaBatch::new(tokens.len(), 1);
    batch.add_sequence(&tokens, 0, false).unwrap();
    ctx.decode(&mut batch).unwrap();
    drop(ctx);
    assert_eq!(copy.stats().layers.len(), 30);
}

#[test]
fn a_dense_model_records_nothing() {
    let backend = LlamaBackend::init().unwrap();
    let model = load(&backend, &require(dense_test_model()));
    let probe = RoutingProbe::new();
    decode_prompt(&backend, &model, params(16).with_routing_probe(&probe));
    assert_eq!(probe.stats(), Default::default());
}
