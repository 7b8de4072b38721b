//! End to end: the upcycled MoE generates exactly what the dense model
//! generates, wherever its experts live.
//!
//! The test MoE (`make models`) has 4 identical experts per layer and uses
//! top-1 routing (`expert_used_count = 1`). llama.cpp normalises the top-k
//! weights for the llama architecture, so the one selected expert gets weight
//! exactly 1.0 and computes the dense FFN bit for bit: greedy output must
//! match token for token. (With K >= 2 and a random router the weights are
//! only approximately 1/K and rounding flips near-tied tokens after a few
//! steps, so K = 1 is the configuration that makes this test exact.)
//!
//! The claim is about arithmetic: the CPU backend computes one expert of
//! `mul_mat_id` exactly like the dense `mul_mat`. On a GPU build the test
//! therefore keeps every computation on the CPU (no GPU layers, no op
//! offload); GPU kernels round differently per kernel, and the GPU-vs-host
//! comparison is reported by `moe_offload --compare` instead.

use llama_cpp::{
    LlamaBackend, LlamaContextParams, LlamaModel, LlamaModelParams, LlamaToken, LoadMode,
};
use llama_cpp_rs_moe::measure::greedy_outputs;
use llama_cpp_rs_moe::models::{dense_test_model, moe_test_model, require};
use std::num::NonZeroU32;
use std::path::Path;

const PROMPTS: [&str; 4] = [
    "The capital of France is",
    "def fibonacci(n):",
    "Once upon a time, in a small village,",
    "The three primary colors are",
];
const N_PREDICT: usize = 32;

fn load_and_generate(
    backend: &LlamaBackend,
    path: &Path,
    params: &LlamaModelParams,
) -> Vec<Vec<LlamaToken>> {
    let model = LlamaModel::load_from_file(backend, path, params).expect("model loads");
    let ctx_params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(256))
        .with_n_threads(2)
        .with_n_threads_batch(2)
        .with_op_offload(false);
    let mut ctx = model.new_context(backend, ctx_params).expect("context");
    greedy_outputs(&mut ctx, &PROMPTS, N_PREDICT).unwrap()
}

#[test]
fn moe_matches_dense_with_experts_anywhere() {
    let backend = LlamaBackend::init().unwrap();
    let dense = require(dense_test_model());
    let moe = require(moe_test_model());
    let base = LlamaModelParams::default()
        .with_load_mode(LoadMode::Read)
        .with_n_gpu_layers(0);

    let reference = load_and_generate(&backend, &dense, &base);
    assert!(reference.iter().all(|tokens| tokens.len() == N_PREDICT));
    // Not degenerate: the prompts lead to different continuations.
    assert!(reference.windows(2).all(|w| w[0] != w[1]));

    let model = LlamaModel::load_from_file(&backend, &moe, &base).unwrap();
    let n_layer = model.n_layer() as usize;
    assert!(
        model.n_expert() >= 2 && model.n_expert_used() == 1,
        "test MoE must be top-1 over several experts"
    );
    drop(model);

    let mut configurations = vec![
        ("moe".to_owned(), base.clone()),
        ("moe --cpu-moe".to_owned(), base.clone().with_cpu_moe_all()),
    ];
    for k in [1, n_layer / 2, n_layer, n_layer + 5] {
        configurations.push((
            format!("moe --n-cpu-moe {k}"),
            base.clone().with_n_cpu_moe(k),
        ));
    }
    for (name, params) in configurations {
        let outputs = load_and_generate(&backend, &moe, &params);
        for ((prompt, expected), got) in PROMPTS.iter().zip(&reference).zip(&outputs) {
            let diverge = expected.iter().zip(got).position(|(a, b)| a != b);
            assert_eq!(got, expected, "{name}: output for {prompt:?} differs from the dense model (first difference at {diverge:?})");
        }
    }
}
