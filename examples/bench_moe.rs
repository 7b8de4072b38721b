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
//! Every number is measured with monotonic timestamps.

use anyhow::{bail, Context as _, Result};
use clap::Parser;
use llama_cpp::planner::{Budget, DeviceBytes, ExpertBiases, Planner, Workload, DEFAULT_RESERVE};
use llama_cpp::{
    sys, BufferType, CpuThreadPool, FlashAttention, LlamaBackend, LlamaBatch, LlamaContext,
    LlamaContextParams, LlamaModel, LlamaModelParams, LlamaSampler, LlamaToken, LoadMode,
    ThreadPoolSettings, ThreadPriority,
};
use llama_cpp_rs_moe::defaults::{self, ContextSettings};
use llama_cpp_rs_moe::measure::{
    percentile, physical_cores, DeviceFreeMemory, ProcessMemory, Summary,
};
use llama_cpp_rs_moe::model_params::{model_params, CpuMoe};
use llama_cpp_rs_moe::planning::{
    best_n_cpu_moe, calibrated_speed_model, parse_decode_points, parse_sizes,
};
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
    /// default: they follow their matrices, `fit_bias_host=1` says so), fit_calib=all:TPS[;N:TPS] (decode t/s measured on this machine with
    /// --cpu-moe and --n-cpu-moe N: the planner's speed model is calibrated on them),
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
}

#[derive(Debug, Clone, Serialize)]
struct Config {
    name: String,
    n_gpu_layers: u32,
    cpu_moe: Option<CpuMoe>,
    mmap: bool,
    threads: i32,
    batch: u32,
    ubatch: u32,
    op_offload: bool,
    thread_pool: String,
    flash_attention: String,
    /// Context length; `None`: prompt + gen + 16.
    n_ctx: Option<u32>,
    n_outputs_max: u32,
    swa_full: bool,
    /// moe_offload's context defaults (src/defaults.rs).
    example_defaults: bool,
    /// Measured runs per loop.
    runs: usize,
    prompt: usize,
    gen: usize,
    /// VRAM budget per GPU for the placement planner (`fit=`), as given.
    fit: Option<String>,
    /// The planner chooses n_batch / n_ubatch too.
    fit_ubatch: bool,
    /// Thread-pool polling level (ggml's default 50 when unset).
    poll: Option<u32>,
    /// Thread-pool priority, as given.
    prio: Option<String>,
    /// The pool's CPUs, `A-B`.
    cpus: Option<String>,
    /// One CPU per worker (with `cpus`).
    strict: bool,
    /// Host weights may use the GPU's pinned host buffer type (llama.cpp's default).
    host_buffers: bool,
    /// Host weights may use the CPU repack buffer types (llama.cpp's default).
    repack: bool,
    /// The planner keeps expert biases on the GPU (`fit_bias_gpu=1`).
    fit_bias_gpu: bool,
    /// Measured decode speeds that calibrate the planner (`fit_calib=`), as given.
    fit_calib: Option<String>,
    /// VRAM budget for the best fitting `--n-cpu-moe N` (`ncm_fit=`).
    ncm_fit: Option<String>,
    /// `PATTERN=BUFFER_TYPE` lines from llama.cpp's fit (`ot_file=`, written by
    /// scripts/gpu/fit_harness.cpp).
    ot_file: Option<PathBuf>,
    /// Overrides `(pattern, buffer type)` after resolving `fit` or `ot_file`.
    plan_overrides: Vec<(String, String)>,
    /// What the planner or the dry run predicted, next to what is measured.
    predicted: Option<Predicted>,
}

/// Predictions made before loading, to set against the measurements.
#[derive(Debug, Clone, Serialize)]
struct Predicted {
    budget_bytes: Vec<u64>,
    /// llama.cpp's dry-run accounting per device: [weights, KV, compute].
    devices: Vec<(String, [u64; 3])>,
    /// The planner's speed prediction (`fit` only).
    prompt_tps: Option<f64>,
    decode_tps: Option<f64>,
    reasons: Vec<String>,
}

impl Config {
    /// What decides the loaded model (the rest is per context).
    fn model_key(&self) -> ModelKey {
        (
            self.n_gpu_layers,
            self.cpu_moe,
            (self.mmap, self.host_buffers, self.repack),
            self.plan_overrides.clone(),
        )
    }
}

/// What a loaded model depends on: layers, MoE placement, (mmap, host buffers, repack),
/// overrides.
type ModelKey = (
    u32,
    Option<CpuMoe>,
    (bool, bool, bool),
    Vec<(String, String)>,
);

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
    ttft_ms: Vec<f64>,
    prompt_tps_summary: Option<Summary>,
    decode_tps_summary: Option<Summary>,
    ttft_ms_summary: Option<Summary>,
}

#[derive(Debug, Serialize)]
struct ConfigResult {
    config: Config,
    load_seconds: f64,
    buffers: Vec<Buffer>,
    device_used_bytes: Vec<(String, i64)>,
    /// After the runs, including the backends' compute-time allocations.
    device_used_after_runs: Vec<(String, i64)>,
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
    Ok(())
}

fn parse_config(spec: &str, args: &Args, threads: i32) -> Result<Config> {
    let (name, rest) = spec.split_once(':').unwrap_or((spec, ""));
    let mut config = Config {
        name: name.to_owned(),
        n_gpu_layers: 999,
        cpu_moe: None,
        mmap: false,
        threads,
        batch: 2048,
        ubatch: 2048,
        op_offload: true,
        thread_pool: "context".into(),
        flash_attention: "auto".into(),
        n_ctx: None,
        n_outputs_max: 0,
        swa_full: true,
        example_defaults: false,
        runs: args.runs,
        prompt: args.prompt,
        gen: args.gen,
        fit: None,
        fit_calib: None,
        fit_ubatch: false,
        fit_bias_gpu: false,
        poll: None,
        prio: None,
        cpus: None,
        strict: false,
        host_buffers: true,
        repack: true,
        ncm_fit: None,
        ot_file: None,
        plan_overrides: Vec::new(),
        predicted: None,
    };
    for pair in rest.split(',').filter(|p| !p.is_empty()) {
        let (key, value) = pair
            .split_once('=')
            .with_context(|| format!("{spec}: expected key=value, got {pair:?}"))?;
        let flag = || value == "1" || value == "true";
        match key {
            "ngl" => config.n_gpu_layers = value.parse()?,
            "moe" => config.cpu_moe = Some(value.parse().with_context(|| format!("{spec}: moe"))?),
            "mmap" => config.mmap = flag(),
            "threads" => config.threads = value.parse()?,
            "batch" => config.batch = value.parse()?,
            "ubatch" => config.ubatch = value.parse()?,
            "op_offload" => config.op_offload = flag(),
            "pool" if ["context", "graph"].contains(&value) => {
                config.thread_pool = value.to_owned()
            }
            "fa" if ["auto", "on", "off"].contains(&value) => {
                config.flash_attention = value.to_owned()
            }
            "pool" | "fa" => bail!("{spec}: {value:?} is not a value of {key}"),
            "ctx" => config.n_ctx = Some(value.parse()?),
            "outputs" => config.n_outputs_max = value.parse()?,
            "swa_full" => config.swa_full = flag(),
            "runs" => config.runs = value.parse()?,
            "example" => {
                config.example_defaults = flag();
                if config.example_defaults {
                    (
                        config.batch,
                        config.ubatch,
                        config.n_outputs_max,
                        config.swa_full,
                    ) = (
                        defaults::N_BATCH,
                        defaults::N_UBATCH,
                        defaults::N_OUTPUTS_MAX,
                        defaults::SWA_FULL,
                    );
                    config.n_ctx = config.n_ctx.or(Some(defaults::N_CTX));
                }
            }
            "prompt" => config.prompt = value.parse()?,
            "gen" => config.gen = value.parse()?,
            // `;` separates per-GPU sizes: `,` separates keys.
            "fit" => config.fit = Some(value.replace(';', ",")),
            "fit_ubatch" => config.fit_ubatch = flag(),
            "fit_bias_gpu" => config.fit_bias_gpu = flag(),
            // The planner's default since the H200 rows of 2026-12-02.
            "fit_bias_host" => config.fit_bias_gpu = !flag(),
            "fit_calib" => config.fit_calib = Some(value.to_owned()),
            "ncm_fit" => config.ncm_fit = Some(value.replace(';', ",")),
            "ot_file" => config.ot_file = Some(PathBuf::from(value)),
            "poll" => config.poll = Some(value.parse()?),
            "prio" => {
                priority(value)?;
                config.prio = Some(value.to_owned());
            }
            "cpus" => {
                cpu_range(value)?;
                config.cpus = Some(value.to_owned());
            }
            "strict" => config.strict = flag(),
            "host_buffers" => config.host_buffers = flag(),
            "repack" => config.repack = flag(),
            other => bail!("{spec}: unknown key {other:?}"),
        }
    }
    Ok(config)
}

fn priority(text: &str) -> Result<ThreadPriority> {
    Ok(match text {
        "low" => ThreadPriority::Low,
        "normal" => ThreadPriority::Normal,
        "medium" => ThreadPriority::Medium,
        "high" => ThreadPriority::High,
        "realtime" => ThreadPriority::Realtime,
        _ => bail!("prio: {text:?} is not low, normal, medium, high or realtime"),
    })
}

/// `A-B` (inclusive) or a single CPU index.
fn cpu_range(text: &str) -> Result<Vec<usize>> {
    let (a, b) = text.split_once('-').unwrap_or((text, text));
    let (a, b): (usize, usize) = (a.parse()?, b.parse()?);
    if a > b {
        bail!("cpus: {text:?} is an empty range");
    }
    Ok((a..=b).collect())
}

fn thread_pool_settings(config: &Config) -> ThreadPoolSettings {
    let mut settings = ThreadPoolSettings::default();
    if let Some(poll) = config.poll {
        settings = settings.with_poll(poll);
    }
    // Both were checked when the config was parsed.
    if let Some(prio) = config.prio.as_deref().and_then(|p| priority(p).ok()) {
        settings = settings.with_priority(prio);
    }
    if let Some(cpus) = config.cpus.as_deref().and_then(|c| cpu_range(c).ok()) {
        settings = settings.with_cpus(cpus, config.strict);
    }
    settings
}

/// The context params of a configuration.
fn context_params(config: &Config) -> LlamaContextParams {
    let settings = ContextSettings {
        n_ctx: config
            .n_ctx
            .unwrap_or((config.prompt + config.gen + 16) as u32),
        n_batch: config.batch,
        n_ubatch: config.ubatch,
        threads: config.threads,
        n_outputs_max: config.n_outputs_max,
        swa_full: config.swa_full,
    };
    settings
        .params()
        .with_op_offload(config.op_offload)
        .with_cpu_thread_pool(if config.thread_pool == "graph" {
            CpuThreadPool::PerGraph
        } else {
            CpuThreadPool::PerContext
        })
        .with_thread_pool_settings(thread_pool_settings(config))
        .with_flash_attention(match config.flash_attention.as_str() {
            "on" => FlashAttention::Enabled,
            "off" => FlashAttention::Disabled,
            _ => FlashAttention::Auto,
        })
}

/// Turns `fit=` into the plan's overrides (and batch sizes with
/// `fit_ubatch`), and `ncm_fit=` into the smallest fitting `--n-cpu-moe N`,
/// before anything is loaded; both record their predictions.
fn resolve_fit(args: &Args, config: &mut Config) -> Result<()> {
    let base = model_params(config.n_gpu_layers, config.mmap, config.cpu_moe);
    let planner = Planner::new(&args.model).workload(Workload {
        prompt_tokens: config.prompt as u32,
        generated_tokens: config.gen as u32,
    });
    if let Some(text) = config.fit.clone() {
        let budget_bytes = parse_sizes(&text)?;
        let mut ctx_params = context_params(config);
        if config.fit_ubatch {
            // llama.cpp's defaults mean "unset": the planner picks them.
            let defaults = LlamaContextParams::default();
            ctx_params = ctx_params
                .with_n_batch(defaults.n_batch())
                .with_n_ubatch(defaults.n_ubatch());
        }
        let biases = if config.fit_bias_gpu {
            ExpertBiases::Gpu
        } else {
            ExpertBiases::FollowMatrices
        };
        let mut planner = planner
            .budget(Budget::bytes_per_device(budget_bytes.clone()))
            .expert_biases(biases);
        if let Some(calib) = &config.fit_calib {
            let speed = calibrated_speed_model(&args.model, &parse_decode_points(calib)?)?;
            eprintln!(
                "== {}: speed model calibrated on {calib}: {speed:?} ==",
                config.name
            );
            planner = planner.speed_model(speed);
        }
        // The example's default (999, every layer) leaves n_gpu_layers to the
        // planner, as llama.cpp's default does; an explicit ngl= is kept.
        let plan_base = if config.n_gpu_layers == 999 {
            let load_mode = if config.mmap {
                LoadMode::Mmap
            } else {
                LoadMode::Read
            };
            let params = LlamaModelParams::default().with_load_mode(load_mode);
            match config.cpu_moe {
                Some(moe) => moe.apply(params),
                None => params,
            }
        } else {
            base
        };
        let plan = planner.plan(&plan_base, &ctx_params)?;
        eprintln!("== plan for {} ({text}) ==\n{plan}", config.name);
        if let Some(n) = plan.n_gpu_layers {
            config.n_gpu_layers = n;
        }
        config.plan_overrides = plan
            .overrides
            .iter()
            .map(|p| (p.clone(), "CPU".into()))
            .collect();
        if let (Some(batch), Some(ubatch)) = (plan.n_batch, plan.n_ubatch) {
            (config.batch, config.ubatch) = (batch, ubatch);
        }
        config.predicted = Some(Predicted {
            budget_bytes,
            devices: plan
                .devices
                .iter()
                .map(|d| (d.name.clone(), parts(d.bytes)))
                .collect(),
            prompt_tps: Some(plan.speed.prompt_tps),
            decode_tps: Some(plan.speed.decode_tps),
            reasons: plan.reasons.clone(),
        });
    } else if let Some(path) = config.ot_file.clone() {
        // llama.cpp's fit: "n_gpu_layers N" and "ot PATTERN=BUFFER_TYPE" lines.
        let text = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
        for line in text.lines() {
            if let Some(spec) = line.strip_prefix("ot ") {
                let (pattern, buffer_type) = spec.rsplit_once('=').context("ot PATTERN=BUFT")?;
                config
                    .plan_overrides
                    .push((pattern.to_owned(), buffer_type.to_owned()));
            } else if let Some(n) = line.strip_prefix("n_gpu_layers ") {
                // -1 (all) stays the config's 999.
                if let Ok(n @ 0..) = n.trim().parse::<i32>() {
                    config.n_gpu_layers = n as u32;
                }
            } else if line.starts_with("status ") && line != "status 0" {
                bail!("{}: llama.cpp's fit failed ({line})", path.display());
            }
        }
    } else if let Some(text) = config.ncm_fit.clone() {
        let budget_bytes = parse_sizes(&text)?;
        let header = llama_cpp::gguf::GgufFile::open(&args.model)?;
        let n_layer = header
            .arch_value("block_count")
            .and_then(|v| v.as_u64())
            .unwrap_or(0) as usize;
        let ctx_params = context_params(config);
        let found = best_n_cpu_moe(
            &planner,
            &base,
            &ctx_params,
            n_layer,
            &budget_bytes,
            DEFAULT_RESERVE,
        )?;
        let Some((n, bytes)) = found else {
            bail!("{}: no --n-cpu-moe N fits {text}", config.name);
        };
        eprintln!(
            "== {}: --n-cpu-moe {n} is the smallest N that fits {text} ==",
            config.name
        );
        config.cpu_moe = Some(CpuMoe::FirstLayers(n));
        config.predicted = Some(Predicted {
            budget_bytes,
            devices: bytes
                .into_iter()
                .filter(|(d, _)| d != "CPU")
                .map(|(d, b)| (d, parts(b)))
                .collect(),
            prompt_tps: None,
            decode_tps: None,
            reasons: vec![format!(
                "--n-cpu-moe {n}: the smallest N within the budget less the planner's reserve"
            )],
        });
    }
    Ok(())
}

fn parts(bytes: DeviceBytes) -> [u64; 3] {
    [bytes.weights, bytes.kv, bytes.compute]
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
    let buffers = ctx
        .memory_breakdown()?
        .into_iter()
        .map(|b| Buffer {
            buffer_type: b.buffer_type,
            device: b.device,
            weights: b.model,
            kv: b.context,
            compute: b.compute,
        })
        .collect();
    let device_used_bytes = DeviceFreeMemory::used_between(free_before, &free_after);

    // A deterministic prompt of valid, non-special ids.
    let n_vocab = model.n_vocab();
    let prompt: Vec<LlamaToken> = (0..config.prompt)
        .map(|i| LlamaToken(((i as i64 * 7919 + 13) % i64::from(n_vocab - 16)) as i32))
        .collect();

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
        device_used_after_runs,
        rss_after_load: *rss_after_load,
        rss_peak: ProcessMemory::read().peak_rss,
        rust,
        c,
    })
}

/// The Rust loop: the same steps as reference_run in C, through the safe API.
/// Its prompt loop stays here rather than using measure::generate's: it
/// mirrors benches/c/reference_loop.c step for step (logits for the last
/// token of every chunk, as llama_batch_get_one gives them; the sampler
/// timed outside the prompt), so that Rust/C ratios compare the same work.
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
    for step in 0..gen {
        batch.clear();
        batch.add(token, (prompt.len() + step) as i32, &[0], true)?;
        ctx.decode(&mut batch)?;
        token = sampler.sample(ctx, -1)?;
    }
    Ok(RunTimes {
        prompt_ms,
        ttft_ms,
        decode_ms: t_first.elapsed().as_secs_f64() * 1e3,
        n_decode: gen,
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
    let ttft_ms: Vec<f64> = runs.iter().map(|r| r.ttft_ms).collect();
    LoopStats {
        prompt_tps_summary: Summary::of(&prompt_tps),
        decode_tps_summary: Summary::of(&decode_tps),
        ttft_ms_summary: Summary::of(&ttft_ms),
        prompt_tps,
        decode_tps,
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
        c.thread_pool,
        c.flash_attention,
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
    for ((name, used), (_, after_runs)) in r.device_used_bytes.iter().zip(&r.device_used_after_runs)
    {
        let gib = |bytes: i64| bytes as f64 / (1u64 << 30) as f64;
        println!(
            "  device {name}: {:.3} GiB used by load + context, {:.3} GiB after the runs",
            gib(*used),
            gib(*after_runs)
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
                "  predicted {name}: {:.3} GiB (budget {budgets} GiB)",
                gib(total)
            );
        }
        let opt = |x: Option<f64>| x.map_or("n/a".into(), |v| format!("{v:.1}"));
        println!(
            "  predicted prompt {} t/s, decode {} t/s",
            opt(p.prompt_tps),
            opt(p.decode_tps)
        );
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
