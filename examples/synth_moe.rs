//! Writes a random-weight GGUF file with the exact tensor names, shapes,
//! types and metadata keys llama.cpp expects for one of four MoE models, for
//! benchmarks of expert offloading (throughput and memory do not depend on
//! the weight values). See `llama_cpp_rs_moe::synth` for what the values are.
//!
//! ```text
//! cargo run --release --example synth_moe -- --preset gpt-oss-20b --output /tmp/gpt-oss-20b-synth.gguf
//! cargo run --release --example synth_moe -- --preset qwen3-30b-a3b --layers 4 --dry-run
//! ```

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::builder::PossibleValuesParser;
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use llama_cpp_rs_moe::synth::{self, human_bytes, Preset, SynthOptions};

#[derive(Parser, Debug)]
#[command(about = "Write a random-weight MoE GGUF shaped like a real model")]
struct Args {
    /// Model to imitate.
    #[arg(long, value_parser = PossibleValuesParser::new(Preset::NAMES))]
    preset: String,

    /// Output file.
    #[arg(long, required_unless_present = "dry_run")]
    output: Option<PathBuf>,

    /// Keep only the first N layers (everything else unchanged).
    #[arg(long)]
    layers: Option<u32>,

    /// Seed of the random data (same seed, same file).
    #[arg(long, default_value_t = 0x5EED)]
    seed: u64,

    /// Print the tensor count and sizes without writing anything.
    #[arg(long)]
    dry_run: bool,

    /// With --dry-run: also list every tensor.
    #[arg(long, requires = "dry_run")]
    list: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let preset: Preset = args.preset.parse()?;
    let spec = synth::build(
        preset,
        &SynthOptions {
            layers: args.layers,
            vocab: None,
        },
    )?;
    let hp = &spec.hparams;
    let file_size = spec.file_size()?;

    println!(
        "preset {preset}: arch {}, {} layers, {} experts (top-{}), n_embd {}, vocab {}",
        hp.arch, hp.n_layer, hp.n_expert, hp.n_expert_used, hp.n_embd, hp.n_vocab
    );
    println!("tensors:      {}", spec.tensors.len());
    println!("parameters:   {:.3} B", spec.n_params() as f64 / 1e9);
    println!(
        "tensor data:  {} bytes ({})",
        spec.tensor_bytes(),
        human_bytes(spec.tensor_bytes())
    );
    println!(
        "  of experts: {} bytes ({})",
        spec.expert_bytes(),
        human_bytes(spec.expert_bytes())
    );
    println!(
        "file size:    {} bytes ({})",
        file_size,
        human_bytes(file_size)
    );
    for (ty, (n, bytes)) in spec.bytes_by_type() {
        println!(
            "  {:>6}: {:>4} tensors, {}",
            ty.name(),
            n,
            human_bytes(bytes)
        );
    }

    if args.dry_run {
        if args.list {
            for t in &spec.tensors {
                println!("{:<40} {:>6} {:?}", t.name, t.dtype.name(), t.dims);
            }
        }
        return Ok(());
    }

    let output = args
        .output
        .expect("clap requires --output without --dry-run");
    let bar = ProgressBar::new(spec.tensor_bytes());
    bar.set_style(ProgressStyle::with_template(
        "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
    )?);
    let t0 = Instant::now();
    let mut last = 0u64;
    let written = synth::write_file(&spec, &output, args.seed, &mut |done| {
        // update every 64 MiB to keep the bar cheap
        if done - last >= 64 << 20 || done == spec.tensor_bytes() {
            bar.set_position(done);
            last = done;
        }
    })?;
    bar.finish_and_clear();
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "wrote {} ({} bytes) in {:.1} s: {:.2} GB/s",
        output.display(),
        written,
        secs,
        written as f64 / 1e9 / secs
    );
    Ok(())
}
