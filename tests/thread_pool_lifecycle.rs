//! A context's thread pool starts its workers with the context and joins
//! them when the context is dropped: counted in /proc/self/task. Its own
//! test binary, so no other test's threads come and go meanwhile.
#![cfg(all(target_os = "linux", not(feature = "openmp")))] // with OpenMP, ggml's pool has no threads of its own

use llama_cpp::{CpuThreadPool, LlamaBackend, LlamaContextParams, LlamaModelParams};
use llama_cpp_rs_moe::models::load_dense;
use std::num::NonZeroU32;

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn workers_live_exactly_as_long_as_their_context() {
    let backend = LlamaBackend::init().unwrap();
    let model = load_dense(&backend, &LlamaModelParams::default().with_n_gpu_layers(0));
    let params = |pool| {
        LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(32))
            .with_n_threads(2)
            .with_n_threads_batch(4)
            .with_cpu_thread_pool(pool)
    };

    let before = threads();
    let ctx = model
        .new_context(&backend, params(CpuThreadPool::PerContext))
        .unwrap();
    // One pool for both thread counts: the calling thread plus max(2, 4) - 1 workers.
    assert_eq!(
        threads(),
        before + 3,
        "a pool of 4 threads starts 3 workers"
    );
    drop(ctx);
    assert_eq!(threads(), before, "dropping the context joins its workers");

    let ctx = model
        .new_context(&backend, params(CpuThreadPool::PerGraph))
        .unwrap();
    assert_eq!(
        threads(),
        before,
        "ggml's per-graph pool starts nothing up front"
    );
    drop(ctx);
}
