//! How many distinct experts a prompt's ubatch routes to, per MoE layer: the
//! bytes a prompt copies per ubatch when that layer's experts are in host
//! memory (`llama_cpp::routing::RoutingProbe`), and the routing spread the
//! planner's prompt model takes from it (`SpeedModel::calibrate_routing`).
//! Runs on the CPU unless `--ngl` is given.
//!
//! ```text
//! cargo run --release --example routing_probe -- --model MODEL [--prompt 512] [--ubatch 512]
//!     [--text FILE] [--ngl N] [--threads T] [--json OUT]
//! ```
//!
//! Without `--text` the prompt is `bench_moe`'s (`measure::bench_prompt`); a trained model should be probed with text like its real
//! prompts (its routing depends on them).

use anyhow::{bail, Context as _, Result};
use clap::Parser;
use llama_cpp::routing::RoutingProbe;
use llama_cpp::{
    AddBos, LlamaBackend, LlamaBatch, LlamaContextParams, LlamaModel, LlamaModelParams, LlamaToken,
    LoadMode,
};
use llama_cpp_rs_moe::measure::{bench_prompt, physical_cores};
use serde::Serialize;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser)]
struct Args {
    /// The MoE model (GGUF).
    #[arg(long)]
    model: PathBuf,
    /// Prompt tokens (the first ones of `--text`, or bench_moe's sequence).
    #[arg(long, default_value_t = 512)]
    prompt: usize,
    /// Tokens per ubatch.
    #[arg(long, default_value_t = 512)]
    ubatch: u32,
    /// A text file to take the prompt from.
    #[arg(long)]
    text: Option<PathBuf>,
    /// Layers on the GPU (default 0: the CPU computes everything).
    #[arg(long, default_value_t = 0)]
    ngl: u32,
    /// CPU threads (default: the physical cores, as the other examples).
    #[arg(long)]
    threads: Option<i32>,
    /// Write the per-layer record as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Serialize)]
struct LayerReport {
    layer: u32,
    experts_per_token: u32,
    /// Mean distinct experts per full ubatch, and as a share of the experts.
    mean_distinct: f64,
    share: f64,
    ubatches: Vec<(u32, u32)>,
    tokens_per_expert: Vec<u64>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let header = llama_cpp::gguf::GgufFile::open(&args.model)?;
    let n_expert = header
        .arch_value("expert_count")
        .and_then(|v| v.as_u64())
        .context("not a MoE model: no <arch>.expert_count")? as f64;
    let mut backend = LlamaBackend::init()?;
    backend.void_logs();
    let params = LlamaModelParams::default()
        .with_load_mode(LoadMode::Mmap)
        .with_n_gpu_layers(args.ngl);
    let model = LlamaModel::load_from_file(&backend, &args.model, &params)?;
    let tokens: Vec<LlamaToken> = match &args.text {
        Some(path) => {
            let text = std::fs::read_to_string(path)?;
            let mut tokens = model.str_to_token(&text, AddBos::Always)?;
            if tokens.len() < args.prompt {
                bail!(
                    "{} holds {} tokens, fewer than --prompt {}",
                    path.display(),
                    tokens.len(),
                    args.prompt
                );
            }
            tokens.truncate(args.prompt);
            tokens
        }
        None => bench_prompt(model.n_vocab(), args.prompt),
    };
    let threads = args.threads.unwrap_or_else(physical_cores);
    let probe = RoutingProbe::new();
    let ctx_params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(tokens.len() as u32 + 16))
        .with_n_batch(tokens.len() as u32)
        .with_n_ubatch(args.ubatch)
        .with_n_outputs_max(1)
        .with_n_threads(threads)
        .with_n_threads_batch(threads)
        .with_routing_probe(&probe);
    let mut ctx = model.new_context(&backend, ctx_params)?;
    let mut batch = LlamaBatch::new(tokens.len(), 1);
    batch.add_sequence(&tokens, 0, false)?;
    let start = Instant::now();
    ctx.decode(&mut batch)?;
    let seconds = start.elapsed().as_secs_f64();
    let stats = probe.stats();
    if stats.unreadable > 0 {
        bail!("{} router outputs could not be read", stats.unreadable);
    }
    println!(
        "{}: {} tokens in ubatches of {}, {:.1} s; {} experts per layer",
        args.model.display(),
        tokens.len(),
        args.ubatch,
        seconds,
        n_expert
    );
    println!("layer  distinct/ubatch  share  (full ubatches only)");
    let mut reports = Vec::new();
    for (&layer, routing) in &stats.layers {
        // Full ubatches only: the last one may be short, and the last layer
        // computes only the output token.
        let full: Vec<_> = routing
            .ubatches
            .iter()
            .filter(|u| u.tokens == args.ubatch)
            .collect();
        let mean = if full.is_empty() {
            routing.mean_distinct()
        } else {
            full.iter().map(|u| f64::from(u.distinct)).sum::<f64>() / full.len() as f64
        };
        println!("{layer:>5}  {mean:>15.1}  {:>5.3}", mean / n_expert);
        reports.push(LayerReport {
            layer,
            experts_per_token: routing.experts_per_token,
            mean_distinct: mean,
            share: mean / n_expert,
            ubatches: routing
                .ubatches
                .iter()
                .map(|u| (u.tokens, u.distinct))
                .collect(),
            tokens_per_expert: routing.tokens_per_expert.clone(),
        });
    }
    let layout = llama_cpp::planner::ModelLayout::from_gguf(&header);
    let spread = llama_cpp::planner::SpeedModel::default().calibrate_routing(&layout, &stats)?;
    println!(
        "routing spread {:.4} (1 = uniform over every expert; the planner's prompt model: \
         SpeedModel::calibrate_routing)",
        spread.routing_spread
    );
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&reports)?)?;
    }
    Ok(())
}
