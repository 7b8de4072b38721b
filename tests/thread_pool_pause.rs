//! `LlamaContext::pause_cpu_threads`: a context's pool workers stop polling
//! for work at once, and the next decode wakes them and computes the same
//! logits. Its own test binary: it watches the scheduler state of the
//! process's threads (`/proc/self/task`), which another test's pool would
//! blur.
#![cfg(all(target_os = "linux", not(feature = "openmp")))] // with OpenMP, ggml's pool has no threads of its own

use llama_cpp::{
    AddBos, CpuThreadPool, LlamaBackend, LlamaBatch, LlamaContext, LlamaContextParams,
    LlamaModelParams, ThreadPoolSettings,
};
use llama_cpp_rs_moe::models::load_dense;
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

/// Each thread of this process and its scheduler state
/// (`/proc/self/task/TID/stat`: `R` running or runnable, `S` asleep).
fn thread_states() -> BTreeMap<u32, char> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|entry| {
            let tid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
            // The state follows the command name, which may hold spaces.
            let state = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
            Some((tid, state))
        })
        .collect()
}

/// How soon paused workers sleep, and how long unpaused ones poll at least.
const LIMIT: Duration = Duration::from_millis(20);

/// Decodes token `i` of `tokens` alone and returns its logits.
fn decode(ctx: &mut LlamaContext<'_>, tokens: &[llama_cpp::LlamaToken], i: usize) -> Vec<f32> {
    let mut batch = LlamaBatch::new(1, 1);
    batch.add(tokens[i], i as i32, &[0], true).unwrap();
    ctx.decode(&mut batch).unwrap();
    ctx.get_logits_ith(-1).unwrap().to_vec()
}

#[test]
fn paused_workers_sleep_at_once_and_the_next_decode_wakes_them() {
    let backend = LlamaBackend::init().unwrap();
    let model = load_dense(&backend, &LlamaModelParams::default().with_n_gpu_layers(0));
    let tokens = model
        .vocab()
        .tokenize("The capital of France is", AddBos::Always, false)
        .unwrap();
    // Poll level 100: after a graph the workers spin 1024 * 128 * 100 pause
    // instructions (tens of milliseconds even where a pause takes 10 cycles).
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(64))
        .with_n_threads(2)
        .with_n_threads_batch(2)
        .with_cpu_thread_pool(CpuThreadPool::PerContext)
        .with_thread_pool_settings(ThreadPoolSettings::default().with_poll(100));
    let before = thread_states();
    let mut ctx = model.new_context(&backend, params.clone()).unwrap();
    let workers: Vec<u32> = (thread_states().into_keys())
        .filter(|tid| !before.contains_key(tid))
        .collect();
    // Two threads, not more: CI has two cores, and ggml's barriers spin.
    assert_eq!(workers.len(), 1, "a pool of 2 threads starts 1 worker");
    let asleep = || {
        let all = thread_states();
        workers.iter().all(|tid| all[tid] == 'S')
    };

    let mut logits = vec![decode(&mut ctx, &tokens, 0)];
    // Left alone, the workers still poll for work 20 ms after a graph (470
    // ms on a 2-core AMD EPYC here).
    std::thread::sleep(LIMIT);
    assert!(
        !asleep(),
        "the workers poll after a graph: {:?}",
        thread_states()
    );
    for i in 1..tokens.len() {
        logits.push(decode(&mut ctx, &tokens, i));
        ctx.pause_cpu_threads();
        let paused = Instant::now();
        while !asleep() && paused.elapsed() < Duration::from_secs(1) {
            std::thread::sleep(Duration::from_micros(200));
        }
        assert!(
            paused.elapsed() < LIMIT,
            "token {i}: the workers slept {:?} after the pause",
            paused.elapsed()
        );
        // Pausing again changes nothing.
        ctx.pause_cpu_threads();
    }
    drop(ctx);

    // The same tokens through a pool never paused: the same logits.
    let mut plain = model.new_context(&backend, params).unwrap();
    for (i, expected) in logits.iter().enumerate() {
        assert_eq!(&decode(&mut plain, &tokens, i), expected, "token {i}");
    }
}
