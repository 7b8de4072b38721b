//! The CPU thread-pool policy changes how worker threads live, never what
//! they compute; a context keeps its pool when it moves between threads.

use llama_cpp::{
    AddBos, CpuThreadPool, LlamaBackend, LlamaContextParams, LlamaError, LlamaModel,
    LlamaModelParams, LlamaToken, ThreadPoolSettings, ThreadPriority,
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

/// The CPUs a thread may run on, as /proc lists them ("0-1"); `task` is a
/// thread id of this process or "thread-self".
#[cfg(target_os = "linux")]
fn allowed_cpus(task: &str) -> String {
    let path = if task == "thread-self" {
        "/proc/thread-self/status".to_owned()
    } else {
        format!("/proc/self/task/{task}/status")
    };
    let status = std::fs::read_to_string(path).unwrap_or_default();
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap_or("");
    line.trim().to_owned()
}

/// The settings reach ggml: a strict one-CPU mask pins the pool's workers to
/// that CPU (the first the process may use), while the thread that created the context keeps its own
/// affinity (ggml pins it too and never undoes it: a later pool's workers
/// then inherited the mask), and the tokens are those of the default pool.
#[cfg(target_os = "linux")]
#[test]
fn pool_settings_pin_the_workers_not_the_caller() {
    let backend = LlamaBackend::init().unwrap();
    let model = load_dense(&backend, &LlamaModelParams::default().with_n_gpu_layers(0));
    let base = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(128))
        .with_n_threads(2)
        .with_n_threads_batch(2);
    let expected = {
        let mut ctx = model.new_context(&backend, base.clone()).unwrap();
        greedy_outputs(&mut ctx, &PROMPTS, 24).unwrap()
    };
    let tasks = || -> Vec<String> {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect()
    };
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let before = allowed_cpus("thread-self");
                // The first CPU this process may use ("2-3" → 2): CPU 0 may be outside a cpuset.
                let first: usize = before
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("a CPU list");
                let tasks_before = tasks();
                let settings = ThreadPoolSettings::default()
                    .with_poll(0)
                    .with_priority(ThreadPriority::Normal)
                    .with_cpus(vec![first], true);
                let params = base.clone().with_thread_pool_settings(settings);
                let mut ctx = model.new_context(&backend, params).unwrap();
                assert_eq!(
                    allowed_cpus("thread-self"),
                    before,
                    "the caller keeps its CPUs"
                );
                // The pool's worker (2 threads: the caller and one worker).
                let pinned: Vec<_> = tasks()
                    .into_iter()
                    .filter(|t| !tasks_before.contains(t))
                    .filter(|t| allowed_cpus(t) == first.to_string())
                    .collect();
                assert!(!pinned.is_empty(), "no new thread is pinned to CPU {first}");
                assert_eq!(greedy_outputs(&mut ctx, &PROMPTS, 24).unwrap(), expected);
            })
            .join()
            .unwrap();
    });
}

#[test]
fn invalid_pool_settings_are_errors_before_any_thread_starts() {
    let backend = LlamaBackend::init().unwrap();
    let model = load_dense(&backend, &LlamaModelParams::default().with_n_gpu_layers(0));
    for settings in [
        ThreadPoolSettings::default().with_poll(101),
        ThreadPoolSettings::default().with_cpus(Vec::new(), false),
        ThreadPoolSettings::default().with_cpus(vec![0, 512], true),
    ] {
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(32))
            .with_thread_pool_settings(settings.clone());
        match model.new_context(&backend, params) {
            Err(LlamaError::InvalidParameter { name, .. }) => assert_eq!(name, "thread_pool"),
            other => panic!("{settings:?}: {:?}", other.map(|_| ())),
        }
    }
}
