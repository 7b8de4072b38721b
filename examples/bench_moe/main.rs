//! Benchmark of MoE placements, Rust loop against the same loop in C.
//!
//! ```text
//! cargo run --release --example bench_moe -- --model gpt-oss-20b.gguf \
//!     --config gpu:ngl=999 --config cpu-moe:moe=all --config ncm12:moe=12 --runs 3 --json out.json
//! ```
//!
//! For each configuration: load the model, report weights/KV/compute bytes
//! per buffer and device, device free-memory delta, RSS and load time; then
//! one warm-up and `--runs` measured runs of "decode a P-token prompt, then
//! G single-token steps" (greedy, end-of-generation ignored: random weights
//! emit it), alternating the Rust loop (safe `llama_cpp` API) and the C loop
//! (`benches/c/reference_loop.c`, plain llama.h) on the same context, each
//! going first in every other pair.
//! With `--interleave`, every configuration is loaded first and their Rust
//! runs take turns, so that host drift (the H200 host's decode speed moved
//! by 10% within minutes) hits all of them alike.
//! Every number is measured with monotonic timestamps.

mod calibration;
mod config;
mod fit;
mod interleave;

use anyhow::{bail, Context as _, Result};
use clap::Parser;
use config::{context_params, parse_config, Config, ModelKey};
use fit::resolve_fit;
use llama_cpp::{
    sys, BufferType, LlamaBackend, LlamaBatch, LlamaContext, LlamaModel, LlamaSampler, LlamaToken,
};
use llama_cpp_rs_moe::measure::{
    bench_prompt, percentile, physical_cores, DeviceFreeMemory, ProcessMemory, Summary,
};
use llama_cpp_rs_moe::model_params::model_params;
use serde::Serialize;
use std::path::PathBuf;
use std::ptr::NonNull;
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(about = "Benchmark MoE placements; Rust loop vs C loop")]
struct Args {
    /// GGUF model.
    #[arg(long)]
    model: PathBuf,
    /// NAME:key=value,... with keys ngl, moe (all|N), mmap (0|1), threads,
    /// batch, ubatch, op_offload (0|1), pool (context|graph), fa (auto|on|off),
    /// ctx (default prompt + gen + 16), outputs (n_outputs_max, 0 = n_batch),
    /// swa_full (0|1), example (1: moe_offload's context defaults, see
    /// src/defaults.rs; ctx defaults to theirs), runs, prompt, gen, fit=SIZE[;SIZE] (the
    /// placement planner's plan for that VRAM budget per GPU), fit_ubatch (1: the planner
    /// also picks n_batch/n_ubatch), fit_bias_gpu (1: expert biases stay on the GPU;
    /// default: they follow their matrices, `fit_bias_host=1` says so), fit_order=last|first
    /// (which layers' experts the planner moves first; default last),
    /// fit_calib=all:TPS[;N:TPS][;all@TOKENS:TPS] (decode t/s measured on this machine with
    /// --cpu-moe and --n-cpu-moe N, and prompt t/s on a TOKENS-token prompt in this config's
    /// ubatches: the planner's speed model is calibrated on them),
    /// ncm_fit=SIZE (the best --n-cpu-moe N that fits the budget by llama.cpp's
    /// dry run), ot_file=PATH (overrides and n_gpu_layers from llama.cpp's own fit,
    /// scripts/gpu/fit_harness.cpp), poll=0..100, prio (low|normal|medium|high|realtime),
    /// cpus=A-B (the pool's CPUs) and strict (1: one CPU per worker): the per-context
    /// thread pool's settings; host_buffers=0 (no pinned GPU-host buffers for host weights,
    /// so the CPU repack buffer types get them), repack=0 (no CPU repack buffer types).
    /// Repeatable; consecutive configs with the same placement share one loaded model.
    #[arg(long = "config", required = true)]
    configs: Vec<String>,
    /// Prompt tokens (default for every config).
    #[arg(long, default_value_t = 512)]
    prompt: usize,
    /// Generated tokens after the prompt.
    #[arg(long, default_value_t = 128)]
    gen: usize,
    /// Measured runs per loop (after one warm-up each).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Default threads (default: physical cores).
    #[arg(long)]
    threads: Option<i32>,
    /// Skip the C loop.
    #[arg(long)]
    no_c: bool,
    /// Write the results here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Load every configuration at once and take their Rust runs in turns
    /// (run i of each before run i+1 of any; the first of a turn rotates),
    /// for comparisons that host drift would otherwise decide. Needs
    /// --no-c; memory is measured per load and context with the others in
    /// memory, not after the runs (the backends' pools are then shared).
    #[arg(long)]
    interleave: bool,
    /// With --interleave, leave each context's CPU workers polling after its
    /// run, as before they were paused: the next configuration's run then
    /// shares the cores with them (for measuring what that costs).
    #[arg(long, requires = "interleave")]
    keep_polling: bool,
}

#[derive(Debug, Serialize)]
struct Buffer {
    buffer_type: String,
    device: String,
    weights: u64,
    kv: u64,
    compute: u64,
}

#[derive(Debug, Default, Serialize)]
struct LoopStats {
    prompt_tps: Vec<f64>,
    decode_tps: Vec<f64>,
    /// Per run, one token over its median decode step. A step stalled by
    /// something else on the host moves the run's mean but not its median,
    /// so two placements compared in the same turns differ here by what
    /// the placements do. Rust loop only (the C loop times the whole decode).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    decode_median_tps: Vec<f64>,
    ttft_ms: Vec<f64>,
    prompt_tps_summary: Option<Summary>,
    decode_tps_summary: Option<Summary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    decode_median_tps_summary: Option<Summary>,
    ttft_ms_summary: Option<Summary>,
}

#[derive(Debug, Serialize)]
struct ConfigResult {
    config: Config,
    load_seconds: f64,
    buffers: Vec<Buffer>,
    device_used_bytes: Vec<(String, i64)>,
    /// After the runs, including the backends' compute-time allocations
    /// (`None` with `--interleave`, where the configurations share them).
    device_used_after_runs: Option<Vec<(String, i64)>>,
    rss_after_load: u64,
    /// Since this configuration's model was loaded (configurations sharing a model share it).
    rss_peak: u64,
    rust: LoopStats,
    c: Option<LoopStats>,
    rust_over_c_prompt: Option<f64>,
    rust_over_c_decode: Option<f64>,
    /// Median over runs of (Rust run i) / (C run i): the runs alternate, so
    /// each pair saw the same host state; steadier than a ratio of means.
    rust_over_c_prompt_paired_median: Option<f64>,
    rust_over_c_decode_paired_median: Option<f64>,
}

/// One timed run: milliseconds.
struct RunTimes {
    prompt_ms: f64,
    ttft_ms: f64,
    decode_ms: f64,
    n_decode: usize,
    /// Each decode step (decode and sample one token); empty from the C loop.
    step_ms: Vec<f64>,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct ReferenceResult {
    prompt_ms: f64,
    ttft_ms: f64,
    decode_ms: f64,
    n_prompt: i32,
    n_decode: i32,
    status: i32,
}

extern "C" {
    fn reference_run(
        ctx: *mut sys::llama_context,
        greedy: *mut sys::llama_sampler,
        prompt: *mut sys::llama_token,
        n_prompt: i32,
        n_decode: i32,
        n_batch: i32,
    ) -> ReferenceResult;
}

fn main() -> Result<()> {
    let args = Args::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    if args.interleave && !args.no_c {
        bail!("--interleave takes the Rust loop only: add --no-c");
    }
    let backend = LlamaBackend::init()?;
    let default_threads = args.threads.unwrap_or_else(physical_cores);
    let mut configs = Vec::new();
    for spec in &args.configs {
        let mut config = parse_config(spec, &args, default_threads)?;
        // A budget a placement cannot meet is a result (a miss to report), not a
        // reason to stop measuring the other configurations.
        match resolve_fit(&args, &mut config) {
            Ok(()) => configs.push(config),
            Err(err) => println!("\n## {}: skipped: {err:#}", config.name),
        }
    }
    if args.interleave {
        let results = interleave::run(&backend, &args, configs)?;
        for result in &results {
            print_result(result);
        }
        print_calibration(&results);
        if let Some(path) = &args.json {
            std::fs::write(path, serde_json::to_string_pretty(&results)?)?;
        }
        return Ok(());
    }
    let mut results = Vec::new();
    let mut loaded: Option<LoadedModel> = None;
    for config in configs {
        if loaded.as_ref().is_none_or(|l| l.key != config.model_key()) {
            // Free the previous model's memory before loading the next.
            drop(loaded.take());
            loaded = Some(LoadedModel::load(&backend, &args, &config)?);
        }
        let result = run_config(
            &backend,
            loaded.as_ref().expect("loaded above"),
            &args,
            config,
        )?;
        print_result(&result);
        results.push(result);
        if let Some(path) = &args.json {
            // Written after each configuration so a time-limited run keeps what it measured.
            std::fs::write(path, serde_json::to_string_pretty(&results)?)?;
        }
    }
    print_calibration(&results);
    Ok(())
}

/// The planner's calibration points these rows give, in the form
/// `fit_calib=` and `moe_offload --calib` take (`run.sh` reads this
/// line rather than parsing the JSON a second way).
fn print_calibration(results: &[ConfigResult]) {
    if let Some((points, n_ubatch)) = calibration::calibration_points(results) {
        println!("\ncalibration points (ubatch {n_ubatch}): {points}");
    }
}

/// A model with what was measured while loading it.
struct LoadedModel {
    key: ModelKey,
    model: LlamaModel,
    load_seconds: f64,
    rss_after_load: u64,
    /// Device free memory before the load.
    free_before: Vec<DeviceFreeMemory>,
}

impl LoadedModel {
    fn load(backend: &LlamaBackend, args: &Args, config: &Config) -> Result<Self> {
        eprintln!("== loading for {} ==", config.name);
        let free_before = DeviceFreeMemory::read_all();
        ProcessMemory::reset_peak();
        let start = Instant::now();
        let mut params = model_params(config.n_gpu_layers, config.mmap, config.cpu_moe)
            .with_host_buffers(config.host_buffers)
            .with_extra_buffer_types(config.repack);
        for (pattern, buffer_type) in &config.plan_overrides {
            params = params.with_tensor_override(pattern, BufferType::from_name(buffer_type))?;
        }
        let model = LlamaModel::load_from_file(backend, &args.model, &params)?;
        let load_seconds = start.elapsed().as_secs_f64();
        Ok(Self {
            key: config.model_key(),
            model,
            load_seconds,
            rss_after_load: ProcessMemory::read().rss,
            free_before,
        })
    }
}

fn run_config(
    backend: &LlamaBackend,
    loaded: &LoadedModel,
    args: &Args,
    config: Config,
) -> Result<ConfigResult> {
    eprintln!("== {} ==", config.name);
    let LoadedModel {
        model,
        load_seconds,
        rss_after_load,
        free_before,
        ..
    } = loaded;
    let mut ctx = model.new_context(backend, context_params(&config))?;
    let free_after = DeviceFreeMemory::read_all();
    let buffers = buffers(&ctx)?;
    let device_used_bytes = DeviceFreeMemory::used_between(free_before, &free_after);

    let prompt = bench_prompt(model.n_vocab(), config.prompt);

    let mut rust = Vec::new();
    let mut c = Vec::new();
    let c_sampler = CSampler::greedy()?;
    // Run 0 of each loop is the warm-up. The loop that goes first alternates:
    // with Rust always first, the first measured Rust prompt of a fresh
    // context was the slowest of its row (docs/BENCHMARKS.md).
    for run in 0..=config.runs {
        let order = if run % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for is_rust in order {
            let r = if is_rust {
                rust_run(&mut ctx, &prompt, config.gen, config.batch as usize)?
            } else if !args.no_c {
                c_run(&ctx, &c_sampler, &prompt, config.gen, config.batch)?
            } else {
                continue;
            };
            if run > 0 {
                if is_rust { &mut rust } else { &mut c }.push(r);
            }
        }
    }
    drop(c_sampler);
    // Also what backends allocated while computing (the CUDA memory pool
    // grows on first use): the peak to plan for.
    let device_used_after_runs =
        DeviceFreeMemory::used_between(free_before, &DeviceFreeMemory::read_all());

    let rust = loop_stats(&rust, config.prompt);
    let c = (!args.no_c).then(|| loop_stats(&c, config.prompt));
    let ratio =
        |a: &Option<Summary>, b: &Option<Summary>| Some(a.as_ref()?.mean / b.as_ref()?.mean);
    let paired = |a: &[f64], b: &[f64]| {
        percentile(
            &a.iter().zip(b).map(|(x, y)| x / y).collect::<Vec<_>>(),
            0.5,
        )
    };
    Ok(ConfigResult {
        rust_over_c_prompt: c
            .as_ref()
            .and_then(|c| ratio(&rust.prompt_tps_summary, &c.prompt_tps_summary)),
        rust_over_c_decode: c
            .as_ref()
            .and_then(|c| ratio(&rust.decode_tps_summary, &c.decode_tps_summary)),
        rust_over_c_prompt_paired_median: c
            .as_ref()
            .and_then(|c| paired(&rust.prompt_tps, &c.prompt_tps)),
        rust_over_c_decode_paired_median: c
            .as_ref()
            .and_then(|c| paired(&rust.decode_tps, &c.decode_tps)),
        config,
        load_seconds: *load_seconds,
        buffers,
        device_used_bytes,
        device_used_after_runs: Some(device_used_after_runs),
        rss_after_load: *rss_after_load,
        rss_peak: ProcessMemory::read().peak_rss,
        rust,
        c,
    })
}

/// llama.cpp's buffers of a context and its model, per buffer type.
fn buffers(ctx: &LlamaContext<'_>) -> Result<Vec<Buffer>> {
    Ok(ctx
        .memory_breakdown()?
        .into_iter()
        .map(|b| Buffer {
            buffer_type: b.buffer_type,
            device: b.device,
            weights: b.model,
            kv: b.context,
            compute: b.compute,
        })
        .collect())
}

/// The Rust loop: the same steps as reference_run in C, through the safe API.
/// Its prompt loop stays here rather than using measure::generate's: it
/// mirrors benches/c/reference_loop.c step for step (logits for the last
/// token of every chunk, as llama_batch_get_one gives them; the sampler
/// timed outside the prompt), so that Rust/C ratios compare the same work.
/// It also reads the clock after each decode step, which the C loop does
/// not: tens of nanoseconds against a step of milliseconds.
fn rust_run(
    ctx: &mut LlamaContext<'_>,
    prompt: &[LlamaToken],
    gen: usize,
    n_batch: usize,
) -> Result<RunTimes> {
    ctx.clear_kv_cache();
    let mut sampler = LlamaSampler::greedy();
    let mut batch = LlamaBatch::new(n_batch.max(1), 1);
    let t0 = Instant::now();
    for (chunk_index, chunk) in prompt.chunks(n_batch.max(1)).enumerate() {
        batch.clear();
        let first = chunk_index * n_batch;
        for (i, &token) in chunk.iter().enumerate() {
            batch.add(token, (first + i) as i32, &[0], i + 1 == chunk.len())?;
        }
        ctx.decode(&mut batch)?;
    }
    // decode returns once the GPU has its work: wait for the GPU.
    ctx.synchronize();
    let prompt_ms = t0.elapsed().as_secs_f64() * 1e3;
    let mut token = sampler.sample(ctx, -1)?;
    let t_first = Instant::now();
    let ttft_ms = (t_first - t0).as_secs_f64() * 1e3;
    let mut step_ms = Vec::with_capacity(gen);
    let mut t_step = t_first;
    for step in 0..gen {
        batch.clear();
        batch.add(token, (prompt.len() + step) as i32, &[0], true)?;
        ctx.decode(&mut batch)?;
        token = sampler.sample(ctx, -1)?;
        let now = Instant::now();
        step_ms.push((now - t_step).as_secs_f64() * 1e3);
        t_step = now;
    }
    Ok(RunTimes {
        prompt_ms,
        ttft_ms,
        decode_ms: t_first.elapsed().as_secs_f64() * 1e3,
        n_decode: gen,
        step_ms,
    })
}

/// The C loop's greedy sampler, created through plain llama.h like the loop
/// itself; freed on drop, so an error between runs cannot leak it.
struct CSampler(NonNull<sys::llama_sampler>);

impl CSampler {
    fn greedy() -> Result<Self> {
        // SAFETY: a constructor without arguments; a NULL return is checked.
        let raw = unsafe { sys::llama_sampler_init_greedy() };
        NonNull::new(raw)
            .map(Self)
            .context("llama_sampler_init_greedy returned NULL")
    }
}

impl Drop for CSampler {
    fn drop(&mut self) {
        // SAFETY: the pointer came from llama_sampler_init_greedy, is owned
        // by this value alone and is freed only here, once.
        unsafe { sys::llama_sampler_free(self.0.as_ptr()) };
    }
}

fn c_run(
    ctx: &LlamaContext<'_>,
    sampler: &CSampler,
    prompt: &[LlamaToken],
    gen: usize,
    n_batch: u32,
) -> Result<RunTimes> {
    let mut tokens: Vec<sys::llama_token> = prompt.iter().map(|t| t.0).collect();
    // SAFETY: the context is live and not used elsewhere during the call
    // (we hold a shared borrow and run single-threaded); `tokens` holds
    // n_prompt valid ids; the sampler is a live greedy sampler (CSampler
    // owns it and outlives the call).
    let r = unsafe {
        reference_run(
            ctx.as_ptr(),
            sampler.0.as_ptr(),
            tokens.as_mut_ptr(),
            tokens.len() as i32,
            gen as i32,
            n_batch as i32,
        )
    };
    if r.status != 0 {
        bail!("C loop: llama_decode returned {}", r.status);
    }
    Ok(RunTimes {
        prompt_ms: r.prompt_ms,
        ttft_ms: r.ttft_ms,
        decode_ms: r.decode_ms,
        n_decode: r.n_decode as usize,
        step_ms: Vec::new(),
    })
}

fn loop_stats(runs: &[RunTimes], n_prompt: usize) -> LoopStats {
    let prompt_tps: Vec<f64> = runs
        .iter()
        .map(|r| n_prompt as f64 / (r.prompt_ms / 1e3))
        .collect();
    let decode_tps: Vec<f64> = runs
        .iter()
        .map(|r| r.n_decode as f64 / (r.decode_ms / 1e3))
        .collect();
    let decode_median_tps: Vec<f64> = runs
        .iter()
        .filter_map(|r| percentile(&r.step_ms, 0.5))
        .map(|ms| 1e3 / ms)
        .collect();
    let ttft_ms: Vec<f64> = runs.iter().map(|r| r.ttft_ms).collect();
    LoopStats {
        prompt_tps_summary: Summary::of(&prompt_tps),
        decode_tps_summary: Summary::of(&decode_tps),
        decode_median_tps_summary: Summary::of(&decode_median_tps),
        ttft_ms_summary: Summary::of(&ttft_ms),
        prompt_tps,
        decode_tps,
        decode_median_tps,
        ttft_ms,
    }
}

fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

fn print_result(r: &ConfigResult) {
    let c = &r.config;
    println!(
        "\n## {} (ngl {}, moe {:?}, mmap {}, threads {}, batch {}, ubatch {}, outputs {}, swa_full {}, example {}, op_offload {}, pool {}, fa {}, ctx {:?}, prompt {}, gen {})",
        c.name,
        c.n_gpu_layers,
        c.cpu_moe.map(|m| m.to_string()),
        c.mmap,
        c.threads,
        c.batch,
        c.ubatch,
        c.n_outputs_max,
        c.swa_full,
        c.example_defaults,
        c.op_offload,
        config::pool_name(&c.thread_pool),
        config::fa_name(&c.flash_attention),
        c.n_ctx,
        c.prompt,
        c.gen
    );
    println!(
        "load {:.2} s, RSS after load {:.2} GiB, peak {:.2} GiB",
        r.load_seconds,
        gib(r.rss_after_load),
        gib(r.rss_peak)
    );
    for b in &r.buffers {
        println!(
            "  {:<12} {:<6} weights {:>8.3} GiB  KV {:>7.3} GiB  compute {:>7.3} GiB",
            b.buffer_type,
            b.device,
            gib(b.weights),
            gib(b.kv),
            gib(b.compute)
        );
    }
    let gib_signed = |bytes: i64| bytes as f64 / (1u64 << 30) as f64;
    for (i, (name, used)) in r.device_used_bytes.iter().enumerate() {
        let after = match &r.device_used_after_runs {
            Some(after) => format!("{:.3} GiB after the runs", gib_signed(after[i].1)),
            None => "not measured after the runs".into(),
        };
        println!(
            "  device {name}: {:.3} GiB used by load + context, {after}",
            gib_signed(*used)
        );
    }
    if let Some(p) = &c.predicted {
        let budgets: Vec<String> = p
            .budget_bytes
            .iter()
            .map(|&b| format!("{:.3}", gib(b)))
            .collect();
        for (name, [weights, kv, compute]) in &p.devices {
            let total = weights + kv + compute;
            let budgets = budgets.join("/");
            println!(
                "  predicted {name}: {:.3} GiB buffers, peak {:.3} GiB (budget {budgets} GiB)",
                gib(total),
                gib(total + p.reserve_bytes)
            );
        }
        let opt = |x: Option<f64>| x.map_or("n/a".into(), |v| format!("{v:.1}"));
        println!(
            "  predicted prompt {} t/s, decode {} t/s",
            opt(p.prompt_tps),
            opt(p.decode_tps)
        );
        if let Some(again) = &p.repredicted {
            println!(
                "  re-predicted prompt {:.1} t/s, decode {:.1} t/s (calibrated in the same turns: {})",
                again.prompt_tps, again.decode_tps, again.calibration
            );
        }
    }
    let show = |label: &str, s: &LoopStats| {
        let f = |x: &Option<Summary>| {
            x.map_or("n/a".into(), |s| format!("{:.1} ± {:.1}", s.mean, s.sd))
        };
        println!(
            "  {label:<4} prompt {} t/s | decode {} t/s | TTFT {} ms",
            f(&s.prompt_tps_summary),
            f(&s.decode_tps_summary),
            f(&s.ttft_ms_summary)
        );
        if s.decode_median_tps_summary.is_some() {
            println!(
                "  {label:<4} decode by each run's median step {} t/s",
                f(&s.decode_median_tps_summary)
            );
        }
    };
    show("rust", &r.rust);
    if let Some(c) = &r.c {
        show("c", c);
    }
    if let (Some(p), Some(d)) = (r.rust_over_c_prompt, r.rust_over_c_decode) {
        println!("  Rust/C: prompt {p:.3}, decode {d:.3} (ratio of means)");
    }
    if let (Some(p), Some(d)) = (
        r.rust_over_c_prompt_paired_median,
        r.rust_over_c_decode_paired_median,
    ) {
        println!("  Rust/C: prompt {p:.3}, decode {d:.3} (median of paired runs)");
    }
}

#[cfg(test)]
mod tests {
    use super::{loop_stats, RunTimes};

    fn run(step_ms: Vec<f64>) -> RunTimes {
        RunTimes {
            prompt_ms: 100.0,
            ttft_ms: 100.0,
            decode_ms: step_ms.iter().sum(),
            n_decode: step_ms.len(),
            step_ms,
        }
    }

    #[test]
    fn a_stalled_step_moves_the_mean_decode_but_not_the_median_step() {
        let steady = run(vec![10.0; 5]);
        let stalled = run(vec![10.0, 10.0, 160.0, 10.0, 10.0]);
        let s = loop_stats(&[steady, stalled], 512);
        assert_eq!(s.decode_tps.len(), 2);
        assert!((s.decode_tps[0] - 100.0).abs() < 1e-9, "{:?}", s.decode_tps);
        assert!((s.decode_tps[1] - 25.0).abs() < 1e-9, "{:?}", s.decode_tps);
        assert_eq!(s.decode_median_tps.len(), 2);
        for tps in &s.decode_median_tps {
            assert!((tps - 100.0).abs() < 1e-9, "{:?}", s.decode_median_tps);
        }
    }

    #[test]
    fn the_c_loop_has_no_steps_and_no_median_in_the_json() {
        let mut c = run(vec![10.0; 4]);
        c.step_ms.clear();
        let s = loop_stats(&[c], 512);
        assert!(s.decode_median_tps.is_empty());
        assert!(s.decode_median_tps_summary.is_none());
        let json = serde_json::to_value(&s).unwrap();
        assert!(json.get("decode_median_tps").is_none(), "{json}");
        assert!(json.get("decode_tps").is_some(), "{json}");
    }
}
