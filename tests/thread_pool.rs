//! The CPU thread-pool policy changes how worker threads live, never what
//! they compute; a context keeps its pool when it moves between threads.

use llama_cpp::{
    AddBos, CpuThreadPool, LlamaBackend, LlamaContextParams, LlamaModel, LlamaModelParams,
    LlamaToken,
};
use llama_cpp_rs_moe::measure::greedy_outputs;
use llama_cpp_rs_moe::models::load_dense;
use std::num::NonZeroU32;

const PROMPTS: [&str; 2] = ["The capital of France is", "def fibonacci(n):"];

fn greedy(
    model: &LlamaModel,
    backend: &LlamaBackend,
    pool: CpuThreadPool,
    on_other_thread: bool,
) -> Vec<Vec<LlamaToken>> {
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(128))
        .with_n_threads(2)
        .with_n_threads_batch(2)
        .with_cpu_thread_pool(pool);
    let mut ctx = model.new_context(backend, params).expect("context");
    let mut run = move || greedy_outputs(&mut ctx, &PROMPTS, 24).unwrap();
    if on_other_thread {
        std::thread::scope(|scope| scope.spawn(run).join().unwrap())
    } else {
        run()
    }
}

#[test]
fn pool_policies_compute_the_same_tokens() {
    let backend = LlamaBackend::init().unwrap();
    let model = load_dense(&backend, &LlamaModelParams::default().with_n_gpu_layers(0));
    let per_graph = greedy(&model, &backend, CpuThreadPool::PerGraph, false);
    assert!(per_graph.iter().all(|tokens| tokens.len() == 24) && per_graph[0] != per_graph[1]);
    assert_eq!(
        greedy(&model, &backend, CpuThreadPool::PerContext, false),
        per_graph
    );
    assert_eq!(
        greedy(&model, &backend, CpuThreadPool::PerContext, true),
        per_graph,
        "context moved to another thread with its pool"
    );
}

/// Small enough for valgrind (`scripts/memcheck.sh`): a pool is created,
/// attached, runs one graph with a worker thread and is freed after its
/// context, for each policy and for a context dropped on another thread.
#[test]
fn pool_lifecycle_one_decode() {
    let backend = LlamaBackend::init().unwrap();
    let model = load_dense(&backend, &LlamaModelParams::default().with_n_gpu_layers(0));
    let tokens = model
        .vocab()
        .tokenize("Hello", AddBos::Always, false)
        .unwrap();
    for (pool, on_other_thread) in [
        (CpuThreadPool::PerContext, false),
        (CpuThreadPool::PerGraph, false),
        (CpuThreadPool::PerContext, true),
    ] {
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(32))
            .with_n_threads(2)
            .with_n_threads_batch(2)
            .with_cpu_thread_pool(pool);
        let mut ctx = model.new_context(&backend, params).unwrap();
        let mut batch = llama_cpp::LlamaBatch::new(tokens.len(), 1);
        batch.add_sequence(&tokens, 0, false).unwrap();
        ctx.decode(&mut batch).unwrap();
        assert_eq!(
            ctx.get_logits_ith(-1).unwrap().len(),
            model.n_vocab() as usize
        );
        if on_other_thread {
            std::thread::scope(|scope| scope.spawn(move || drop(ctx)).join().unwrap());
        }
    }
}
