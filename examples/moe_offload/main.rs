//! Run a Mixture-of-Experts model with its experts in host memory, stream
//! the text, and measure everything: placement, memory, TTFT, tokens/s.
//!
//! ```text
//! cargo run --release --example moe_offload -- --cpu-moe --runs 3 --compare
//! cargo run --release --example moe_offload -- --model gpt-oss-20b.gguf --cpu-moe --dry-run
//! cargo run --release --example moe_offload -- --model gpt-oss-20b.gguf --vram-budget 8GiB
//! ```
//!
//! With no placement flag (`--cpu-moe`, `--n-cpu-moe`, `--override`,
//! `--n-gpu-layers`, `--fit`, `--vram-budget`) the placement planner places the
//! experts within each GPU's free memory minus 1 GiB, as llama.cpp's tools fit
//! by default; on a machine without a GPU everything stays in host memory.
//! `--no-fit` keeps llama.cpp's own defaults (every layer on the GPU).
//!
//! Every figure printed is measured: token counts come from the tokenizer,
//! times from timestamps taken as each token is sampled, memory from
//! llama.cpp's own buffer accounting, the device query and /proc.

mod calibrate;

use anyhow::{bail, Context as _, Result};
use calibrate::{calibration, calibration_placements, describe, placement_name, prompt_tokens};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use llama_cpp::planner::{ExpertOrder, Workload};
use llama_cpp::{
    list_llama_ggml_backend_devices, AddBos, BufferMemory, BufferType, LlamaBackend,
    LlamaBackendDeviceType, LlamaChatMessage, LlamaContextParams, LlamaModel, LlamaModelParams,
    LlamaSampler, OffloadPlan, Planner, Special, TokenDecoder,
};
use llama_cpp_rs_moe::defaults::{self, ContextSettings};
use llama_cpp_rs_moe::measure::{
    bench_prompt, generate, percentile, physical_cores, DeviceFreeMemory, ProcessMemory, Summary,
};
use llama_cpp_rs_moe::model_params::{model_params, CpuMoe};
use llama_cpp_rs_moe::models::moe_test_model;
use llama_cpp_rs_moe::planning::{calibrated_speed_model, parse_budget, parse_calibration};
use llama_cpp_rs_moe::report::{
    compare, mib, summary, BufferRow, Comparison, ConfigReport, DeviceMemory, ModelFacts,
    PredictedDevice, Prediction, Report, RunReport, Settings,
};
use llama_cpp_rs_moe::sha256::sha256_file;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

const DEFAULT_PROMPT: &str =
    "Explain in a few sentences why mixture-of-experts models can run on a small GPU.";

/// `--expert-order`: the planner's [`ExpertOrder`].
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Order {
    Workload,
    Last,
    First,
}

#[derive(Parser, Debug)]
#[command(about = "Run a GGUF MoE model with experts in host memory and measure it")]
struct Args {
    /// GGUF model (default: the upcycled SmolLM2 MoE made by `make models`).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Keep all expert tensors in host memory (llama.cpp's --cpu-moe).
    #[arg(long, conflicts_with = "n_cpu_moe")]
    cpu_moe: bool,
    /// Keep the expert tensors of the first N layers in host memory.
    #[arg(long, value_name = "N")]
    n_cpu_moe: Option<usize>,
    /// Let the placement planner pick which experts stay in host memory: the fastest
    /// placement within the VRAM budget (default: free memory minus 1 GiB per GPU).
    /// The default when no other placement flag is given.
    #[arg(long, conflicts_with_all = ["cpu_moe", "n_cpu_moe"])]
    fit: bool,
    /// No placement plan when no placement flag is given: llama.cpp's defaults.
    #[arg(long, conflicts_with_all = ["fit", "vram_budget", "calib"])]
    no_fit: bool,
    /// Speeds measured on this machine that calibrate the planner's speed model, comma-separated:
    /// decode t/s as `all:33.1` (--cpu-moe) or `12:60.2` (--n-cpu-moe 12), prompt t/s as
    /// `all@512:6598` (--cpu-moe, a 512-token prompt) or `24@512:8041`, measured with this
    /// run's --ubatch. Decode items fit the host decode constants, prompt items the routing spread.
    #[arg(long, value_name = "all[@TOKENS]:TPS[,N[@TOKENS]:TPS]", conflicts_with_all = ["cpu_moe", "n_cpu_moe"])]
    calib: Option<String>,
    /// VRAM budget per GPU for the planner (implies --fit): `8GiB`, `7.5GB`, `8GiB,4GiB`.
    #[arg(long, value_name = "SIZE[,SIZE]", conflicts_with_all = ["cpu_moe", "n_cpu_moe"])]
    vram_budget: Option<String>,
    /// Which layers' experts the planner moves to host memory first: `workload` (the default:
    /// `last` when the planned workload, a 2,048-token prompt and 256 tokens, would spend longer
    /// prompting than decoding, `first` otherwise), `last` (trained models route their later
    /// layers more narrowly, which speeds up prompts) or `first` (llama.cpp's --n-cpu-moe order;
    /// decoded 4-5% faster at two of four budgets with random-weight shapes on an H200).
    #[arg(long, value_enum, default_value_t = Order::Workload, conflicts_with_all = ["cpu_moe", "n_cpu_moe", "no_fit"])]
    expert_order: Order,
    /// Extra override PATTERN=BUFFER_TYPE, llama.cpp's -ot syntax (e.g. `exps=CPU`, `blk\.1[0-9]\.=CUDA0`). Repeatable.
    #[arg(long = "override", value_name = "PATTERN=BUFT")]
    overrides: Vec<String>,
    /// Layers on the GPU (default: all).
    #[arg(short = 'n', long = "n-gpu-layers", visible_alias = "ngl")]
    n_gpu_layers: Option<u32>,
    /// Context size in tokens.
    #[arg(long, default_value_t = defaults::N_CTX)]
    ctx_size: u32,
    /// Threads (default: physical cores; llama.cpp's C default of 4 cost 2.6x decode speed with experts on an H200 host).
    #[arg(long)]
    threads: Option<i32>,
    /// Logical batch size.
    #[arg(long, default_value_t = defaults::N_BATCH)]
    batch: u32,
    /// Physical batch size (each ubatch streams the experts to the GPU once).
    #[arg(long, default_value_t = defaults::N_UBATCH)]
    ubatch: u32,
    /// Memory-map the file instead of reading it into (pinned) buffers.
    #[arg(long)]
    mmap: bool,
    /// Prompt text.
    #[arg(long, default_value = DEFAULT_PROMPT)]
    prompt: String,
    /// Wrap the prompt with the model's chat template.
    #[arg(long)]
    chat: bool,
    /// Tokens to generate.
    #[arg(long, default_value_t = 64)]
    n_predict: usize,
    /// Sampling temperature (0: greedy).
    #[arg(long, default_value_t = 0.0)]
    temp: f32,
    /// RNG seed for sampling.
    #[arg(long, default_value_t = 42)]
    seed: u32,
    /// Measured runs (after one warm-up run).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Also run without any override and compare speed, memory and output.
    #[arg(long)]
    compare: bool,
    /// Measure this machine's speeds for the planner and print them as `--calib` text:
    /// `--cpu-moe`, then `--n-cpu-moe N` with N half the layers or, on a smaller GPU, the fewest
    /// that fit the budget (`--vram-budget`, default free memory minus 1 GiB), each on a
    /// `--prompt-tokens` prompt (512 by default).
    #[arg(long, conflicts_with_all = [
        "cpu_moe", "n_cpu_moe", "fit", "no_fit", "calib", "compare", "dry_run", "overrides", "n_gpu_layers",
    ])]
    calibrate: bool,
    /// Prompt with the benchmarks' fixed prompt of N tokens (bench_moe's) instead of --prompt:
    /// prompt speed at a chosen length.
    #[arg(long, value_name = "N", conflicts_with = "chat")]
    prompt_tokens: Option<usize>,
    /// Write every figure to this JSON file.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Print the placement plan and predicted memory; load no weights.
    #[arg(long)]
    dry_run: bool,
    /// Skip hashing the model file (it reads the whole file once).
    #[arg(long)]
    no_sha256: bool,
    /// More log output (-v: llama.cpp info, -vv: debug).
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

fn main() -> Result<()> {
    let args = Args::parse();
    init_logging(args.verbose);
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = Arc::clone(&interrupted);
        ctrlc::set_handler(move || {
            if flag.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!("\n[interrupted: finishing the current token; Ctrl-C again to quit now]");
        })?;
    }

    let backend = LlamaBackend::init()?;
    let path = args.model.clone().unwrap_or_else(moe_test_model);
    if !path.is_file() {
        bail!(
            "model {} not found (the default model is made by `make models`)",
            path.display()
        );
    }
    let facts = model_facts(&path, !args.no_sha256 && !args.dry_run)?;
    print_facts(&facts);

    let threads = args.threads.unwrap_or_else(physical_cores);
    let placements = if args.calibrate {
        calibration_placements(&args, &path, threads)?
    } else {
        Vec::new()
    };
    // --calibrate measures its two placements; otherwise the one the flags or the planner chose.
    let mut configs: Vec<_> = if args.calibrate {
        let params = |p| model_params(999, args.mmap, Some(p));
        (placements.iter())
            .map(|&p| (placement_name(p), params(p), None))
            .collect()
    } else {
        let offload = offload_params(&args)?;
        let (offload, predicted) = fit(&args, &path, offload)?;
        if args.dry_run {
            return dry_run(&backend, &args, &facts, &offload);
        }
        vec![(config_name(&args), offload, predicted)]
    };
    let baseline = base_params(&args);
    let mut comparison = None;
    if args.compare {
        match baseline_fits(&path, &baseline)? {
            Ok(()) => configs.push(("no offload".to_owned(), baseline, None)),
            Err(reason) => {
                println!("\n--compare: skipping the no-offload baseline: {reason}");
                comparison = Some(Comparison::skipped(reason));
            }
        }
    }

    let mut reports = Vec::new();
    let mut settings = None;
    for (name, params, predicted) in configs {
        let (mut report, used) = run_config(
            &backend,
            &args,
            threads,
            &path,
            &name,
            &params,
            &interrupted,
        )?;
        report.predicted = predicted;
        settings.get_or_insert(used);
        reports.push(report);
        if interrupted.load(Ordering::SeqCst) {
            break;
        }
    }
    if args.compare && reports.len() == 2 {
        comparison = Some(compare(&reports[0], &reports[1]));
    }
    print!("{}", summary(&reports, comparison.as_ref()));
    let calibration = calibration(&args, &path, &placements, &reports);

    let report = Report {
        llama_cpp: env!("LLAMA_CPP_VERSION"),
        model: facts,
        settings: settings.expect("one config ran"),
        configurations: reports,
        comparison,
        calibration,
    };
    if let Some(json) = &args.json {
        std::fs::write(json, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", json.display()))?;
        println!("\nJSON report: {}", json.display());
    }
    if interrupted.load(Ordering::SeqCst) {
        std::process::exit(130);
    }
    Ok(())
}

fn init_logging(verbose: u8) {
    let llama_level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or(format!("warn,llama.cpp={llama_level}")),
    )
    .format_timestamp(None)
    .init();
}

fn config_name(args: &Args) -> String {
    let mut parts = Vec::new();
    if args.cpu_moe {
        parts.push("--cpu-moe".to_owned());
    }
    if let Some(n) = args.n_cpu_moe {
        parts.push(format!("--n-cpu-moe {n}"));
    }
    parts.extend(args.overrides.iter().map(|o| format!("--override {o}")));
    if let Some(budget) = &args.vram_budget {
        parts.push(format!("--vram-budget {budget}"));
    } else if args.fit || args.calib.is_some() {
        parts.push("--fit".to_owned());
    } else if default_fit(args) {
        parts.push("--fit (default)".to_owned());
    }
    if let Some(calib) = &args.calib {
        parts.push(format!("--calib {calib}"));
    }
    if parts.is_empty() {
        "no offload".to_owned()
    } else {
        parts.join(" ")
    }
}

fn base_params(args: &Args) -> LlamaModelParams {
    model_params(n_gpu_layers(args), args.mmap, None)
}

/// `--n-gpu-layers`, or every layer.
fn n_gpu_layers(args: &Args) -> u32 {
    args.n_gpu_layers.unwrap_or(999)
}

/// Whether the planner places the experts: asked for, or (as llama.cpp's
/// tools fit by default) no placement flag given and no `--no-fit`.
fn plans(args: &Args) -> bool {
    args.fit || args.vram_budget.is_some() || args.calib.is_some() || default_fit(args)
}

/// No placement flag and no `--no-fit`: the planner by default.
fn default_fit(args: &Args) -> bool {
    !(args.no_fit
        || args.calibrate
        || args.fit
        || args.vram_budget.is_some()
        || args.calib.is_some()
        || args.cpu_moe
        || args.n_cpu_moe.is_some()
        || !args.overrides.is_empty()
        || args.n_gpu_layers.is_some())
}

fn offload_params(args: &Args) -> Result<LlamaModelParams> {
    // clap makes --cpu-moe and --n-cpu-moe exclusive.
    let cpu_moe = if args.cpu_moe {
        Some(CpuMoe::All)
    } else {
        args.n_cpu_moe.map(CpuMoe::FirstLayers)
    };
    let mut params = model_params(n_gpu_layers(args), args.mmap, cpu_moe);
    for spec in &args.overrides {
        let (pattern, buft) = spec
            .rsplit_once('=')
            .with_context(|| format!("--override {spec:?}: expected PATTERN=BUFFER_TYPE"))?;
        params = params.with_tensor_override(pattern, BufferType::from_name(buft))?;
    }
    Ok(params)
}

/// With --fit, --vram-budget or no placement flag: the planner's placement
/// on top of `params`, printed with its predictions and reasons, which the
/// JSON report keeps. A plan that fails by default (not asked for) is a
/// warning, and llama.cpp's defaults run, as with llama.cpp's own fit.
fn fit(
    args: &Args,
    path: &Path,
    params: LlamaModelParams,
) -> Result<(LlamaModelParams, Option<Prediction>)> {
    if !plans(args) {
        return Ok((params, None));
    }
    let mut planner = Planner::new(path).expert_order(match args.expert_order {
        Order::Workload => ExpertOrder::ByWorkload,
        Order::Last => ExpertOrder::LastLayers,
        Order::First => ExpertOrder::FirstLayers,
    });
    if let Some(text) = &args.vram_budget {
        planner = planner.budget(parse_budget(text)?);
    }
    if let Some(text) = &args.calib {
        // The prompt items were measured in ubatches of this run's size.
        let points = parse_calibration(text, args.ubatch.min(args.batch))?;
        let speed = calibrated_speed_model(path, &points)?;
        println!("\nspeed model calibrated on {text}: {}", describe(&speed));
        planner = planner.speed_model(speed);
    }
    let ctx_params = context_params(args, args.threads.unwrap_or_else(physical_cores));
    let plan = match planner.plan(&params, &ctx_params) {
        Ok(plan) => plan,
        Err(err) if default_fit(args) => {
            println!("\nno placement plan ({err}); running with llama.cpp's defaults (--no-fit)");
            return Ok((params, None));
        }
        Err(err) => return Err(err.into()),
    };
    println!("\nplacement plan:\n{plan}");
    let predicted = Prediction {
        devices: plan
            .devices
            .iter()
            .map(|d| PredictedDevice {
                name: d.name.clone(),
                budget: d.budget,
                weights: d.bytes.weights,
                kv_cache: d.bytes.kv,
                compute: d.bytes.compute,
                reserve: d.reserve,
            })
            .collect(),
        prompt_tps: plan.speed.prompt_tps,
        decode_tps: plan.speed.decode_tps,
        workload: (
            Workload::default().prompt_tokens,
            Workload::default().generated_tokens,
        ),
        reasons: plan.reasons.clone(),
    };
    Ok((params.with_plan(&plan)?, Some(predicted)))
}

fn model_facts(path: &Path, hash: bool) -> Result<ModelFacts> {
    let header = llama_cpp::gguf::GgufFile::open(path)?;
    let arch = header.architecture().unwrap_or("unknown").to_owned();
    let num = |suffix: &str| {
        header
            .arch_value(suffix)
            .and_then(|v| v.as_u64())
            .unwrap_or(0)
    };
    let file_bytes = std::fs::metadata(path)?.len();
    let sha256 = hash
        .then(|| sha256_with_progress(path, file_bytes))
        .transpose()?;
    Ok(ModelFacts {
        path: path.to_owned(),
        architecture: arch,
        n_layer: num("block_count"),
        n_expert: num("expert_count"),
        n_expert_used: num("expert_used_count"),
        file_bytes,
        sha256,
    })
}

fn sha256_with_progress(path: &Path, len: u64) -> Result<String> {
    let template = "sha256 {bar:30} {bytes}/{total_bytes} {bytes_per_sec}";
    let style = ProgressStyle::with_template(template)?;
    let bar = ProgressBar::new(len).with_style(style);
    let digest = sha256_file(path, |n| bar.inc(n))?;
    bar.finish_and_clear();
    Ok(digest)
}

fn print_facts(facts: &ModelFacts) {
    println!("model        {}", facts.path.display());
    println!(
        "architecture {}  layers {}  experts {} (active {})",
        facts.architecture, facts.n_layer, facts.n_expert, facts.n_expert_used
    );
    println!(
        "file         {:.1} MiB  sha256 {}",
        mib(facts.file_bytes),
        facts.sha256.as_deref().unwrap_or("(skipped)")
    );
    println!("llama.cpp    {}", env!("LLAMA_CPP_VERSION"));
}

fn dry_run(
    backend: &LlamaBackend,
    args: &Args,
    facts: &ModelFacts,
    params: &LlamaModelParams,
) -> Result<()> {
    let plan = OffloadPlan::from_file(&facts.path, params)?;
    println!("\nplacement plan (from the GGUF header, nothing loaded):\n{plan}");
    // llama.cpp can simulate the allocations exactly without reading weights.
    let simulated = params.clone().with_no_alloc(true);
    match LlamaModel::load_from_file(backend, &facts.path, &simulated) {
        Ok(model) => {
            println!("llama.cpp's simulated allocation (no_alloc):");
            let ctx_params = context_params(args, args.threads.unwrap_or_else(physical_cores));
            match model.new_context(backend, ctx_params) {
                Ok(ctx) => print_buffers(&ctx.memory_breakdown()?),
                Err(_) => print_buffers(&model.memory_breakdown()?),
            }
        }
        Err(err) => println!("(simulated allocation unavailable: {err})"),
    }
    print_devices("devices now", &DeviceFreeMemory::read_all());
    Ok(())
}

/// The baseline fits when its predicted GPU weights fit in free VRAM.
fn baseline_fits(
    path: &Path,
    baseline: &LlamaModelParams,
) -> Result<std::result::Result<(), String>> {
    let plan = OffloadPlan::from_file(path, baseline)?;
    for device in list_llama_ggml_backend_devices() {
        if device.device_type == LlamaBackendDeviceType::Cpu {
            continue;
        }
        let needed = plan
            .bytes_by_device()
            .get(&device.name)
            .copied()
            .unwrap_or(0);
        if needed > device.memory_free as u64 {
            return Ok(Err(format!(
                "it needs {:.0} MiB of weights on {} with {:.0} MiB free",
                mib(needed),
                device.name,
                mib(device.memory_free as u64)
            )));
        }
    }
    Ok(Ok(()))
}

fn context_params(args: &Args, threads: i32) -> LlamaContextParams {
    let settings = ContextSettings {
        n_ctx: args.ctx_size,
        n_batch: args.batch,
        n_ubatch: args.ubatch,
        ..ContextSettings::defaults(threads)
    };
    settings.params()
}

fn run_config(
    backend: &LlamaBackend,
    args: &Args,
    threads: i32,
    path: &Path,
    name: &str,
    params: &LlamaModelParams,
    interrupted: &AtomicBool,
) -> Result<(ConfigReport, Settings)> {
    println!("\n=== {name} ===");
    for o in params.tensor_overrides() {
        println!("override     {o:?}");
    }
    let before = DeviceFreeMemory::read_all();
    ProcessMemory::reset_peak();
    let rss_before_load = ProcessMemory::read().rss;
    let bar = ProgressBar::new(1000).with_style(ProgressStyle::with_template(
        "loading {bar:30} {percent}% {elapsed}",
    )?);
    let progress_bar = bar.clone();
    let params = params.clone().with_progress_callback(move |p| {
        progress_bar.set_position((p * 1000.0) as u64);
        true
    });
    let load_start = Instant::now();
    let model = LlamaModel::load_from_file(backend, path, &params)?;
    let load_seconds = load_start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let after_load = DeviceFreeMemory::read_all();
    let rss_after_load = ProcessMemory::read().rss;
    println!("loaded in {load_seconds:.2} s: {}", model.desc());

    let mut ctx = model.new_context(backend, context_params(args, threads))?;
    let after_ctx = DeviceFreeMemory::read_all();
    let breakdown = ctx.memory_breakdown()?;
    print_buffers(&breakdown);
    let devices: Vec<DeviceMemory> = before
        .iter()
        .zip(&after_load)
        .zip(&after_ctx)
        .map(|((b, l), c)| DeviceMemory {
            name: b.name.clone(),
            free_before_load: b.free,
            free_after_load: l.free,
            free_after_context: c.free,
            total: b.total,
        })
        .collect();
    for d in &devices {
        println!(
            "device {:<8} free {:>9.0} MiB before load, {:>9.0} after load, {:>9.0} after context (used {:.0} MiB) of {:.0} MiB",
            d.name,
            mib(d.free_before_load),
            mib(d.free_after_load),
            mib(d.free_after_context),
            (d.free_before_load as f64 - d.free_after_context as f64) / (1024.0 * 1024.0),
            mib(d.total)
        );
    }
    println!(
        "process RSS  {:.0} MiB before load, {:.0} MiB after load",
        mib(rss_before_load),
        mib(rss_after_load)
    );

    let vocab = model.vocab();
    let prompt_text = if args.chat {
        let template = model.chat_template(None)?;
        model.apply_chat_template(
            &template,
            &[LlamaChatMessage::new("user", args.prompt.clone())?],
            true,
        )?
    } else {
        args.prompt.clone()
    };
    let prompt = match prompt_tokens(args) {
        Some(n) => bench_prompt(model.n_vocab(), n),
        None => vocab.tokenize(&prompt_text, AddBos::Always, args.chat)?,
    };
    if prompt.is_empty() {
        bail!("the prompt is empty after tokenization");
    }
    if prompt.len() + args.n_predict > ctx.n_ctx() as usize {
        bail!(
            "prompt ({} tokens) + n_predict ({}) exceed --ctx-size {}",
            prompt.len(),
            args.n_predict,
            ctx.n_ctx()
        );
    }
    let settings = Settings {
        n_gpu_layers: n_gpu_layers(args),
        ctx_size: ctx.n_ctx(),
        threads,
        batch: ctx.n_batch(),
        ubatch: ctx.n_ubatch(),
        load_mode: if args.mmap {
            "mmap"
        } else {
            "read (pinned when a GPU backend offers it)"
        },
        prompt_tokens: prompt.len(),
        n_predict: args.n_predict,
        temp: args.temp,
        seed: args.seed,
        runs: args.runs,
    };

    // Warm-up, greedy: also the output the A/B quality check compares.
    ctx.clear_kv_cache();
    let greedy = generate(
        &mut ctx,
        &mut LlamaSampler::greedy(),
        &prompt,
        args.n_predict,
        |_| !interrupted.load(Ordering::SeqCst),
    )?;

    let mut runs = Vec::new();
    let mut text = String::new();
    for run in 0..args.runs {
        if interrupted.load(Ordering::SeqCst) {
            break;
        }
        ctx.clear_kv_cache();
        let mut sampler = sampler(args);
        let stream = run == 0;
        let mut decoder = TokenDecoder::new();
        if stream {
            match prompt_tokens(args) {
                Some(n) => print!("\n[the benchmarks' {n}-token prompt]"),
                None => print!("\n{}", if args.chat { "" } else { prompt_text.as_str() }),
            }
        }
        let generation = generate(&mut ctx, &mut sampler, &prompt, args.n_predict, |token| {
            if stream {
                if let Ok(bytes) = vocab.token_to_bytes(token, Special::Plaintext) {
                    let piece = decoder.push(&bytes);
                    text.push_str(&piece);
                    print!("{piece}");
                    let _ = std::io::stdout().flush();
                }
            }
            !interrupted.load(Ordering::SeqCst)
        })?;
        if stream {
            let rest = decoder.finish();
            text.push_str(&rest);
            println!("{rest}\n");
        }
        let itl = generation.inter_token_ms();
        let row = RunReport {
            prompt_tokens: generation.n_prompt,
            generated_tokens: generation.tokens.len(),
            ttft_ms: generation
                .ttft()
                .map_or(f64::NAN, |t| t.as_secs_f64() * 1000.0),
            prompt_tps: generation.prompt_tps(),
            decode_tps: generation.decode_tps(),
            itl_p50_ms: percentile(&itl, 0.5),
            itl_p95_ms: percentile(&itl, 0.95),
        };
        println!(
            "run {}: prompt {} tok, generated {} tok, TTFT {:.1} ms, prompt {:.1} t/s, decode {} t/s, ITL p50 {} ms p95 {} ms",
            run + 1,
            row.prompt_tokens,
            row.generated_tokens,
            row.ttft_ms,
            row.prompt_tps,
            opt(row.decode_tps),
            opt(row.itl_p50_ms),
            opt(row.itl_p95_ms)
        );
        runs.push(row);
    }
    let collect = |f: &dyn Fn(&RunReport) -> Option<f64>| {
        Summary::of(&runs.iter().filter_map(f).collect::<Vec<_>>())
    };
    let report = ConfigReport {
        name: name.to_owned(),
        overrides: params
            .tensor_overrides()
            .iter()
            .map(|o| format!("{o:?}"))
            .collect(),
        load_seconds,
        buffers: breakdown
            .iter()
            .map(|b| BufferRow {
                buffer_type: b.buffer_type.clone(),
                device: b.device.clone(),
                weights: b.model,
                kv_cache: b.context,
                compute: b.compute,
            })
            .collect(),
        devices,
        rss_before_load,
        rss_after_load,
        rss_peak: ProcessMemory::read().peak_rss,
        ttft_ms: collect(&|r| Some(r.ttft_ms)),
        prompt_tps: collect(&|r| Some(r.prompt_tps)),
        decode_tps: collect(&|r| r.decode_tps),
        runs,
        text,
        greedy: Some(greedy),
        predicted: None,
    };
    Ok((report, settings))
}

fn sampler(args: &Args) -> LlamaSampler {
    if args.temp <= 0.0 {
        LlamaSampler::greedy()
    } else {
        LlamaSampler::chain_simple([
            LlamaSampler::top_k(40),
            LlamaSampler::top_p(0.95, 1),
            LlamaSampler::temp(args.temp),
            LlamaSampler::dist(args.seed),
        ])
    }
}

fn opt(value: Option<f64>) -> String {
    value.map_or("n/a".to_owned(), |v| format!("{v:.1}"))
}

fn print_buffers(buffers: &[BufferMemory]) {
    println!(
        "{:<14} {:<8} {:>12} {:>12} {:>12}",
        "buffer", "device", "weights MiB", "KV MiB", "compute MiB"
    );
    for b in buffers {
        println!(
            "{:<14} {:<8} {:>12.1} {:>12.1} {:>12.1}",
            b.buffer_type,
            b.device,
            mib(b.model),
            mib(b.context),
            mib(b.compute)
        );
    }
}

fn print_devices(title: &str, devices: &[DeviceFreeMemory]) {
    for d in devices {
        println!(
            "{title}: {} {:.0} MiB free of {:.0} MiB",
            d.name,
            mib(d.free),
            mib(d.total)
        );
    }
}
