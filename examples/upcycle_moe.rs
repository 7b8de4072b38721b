//! Turns a dense llama GGUF into a Mixture-of-Experts GGUF whose experts are
//! copies of the dense feed-forward network ("sparse upcycling"). The result
//! generates what the dense model generates, and is a small, real MoE to test
//! expert offloading with. See `llama_cpp_rs_moe::upcycle`.
//!
//! ```text
//! cargo run --release --example upcycle_moe -- \
//!     --input models/SmolLM2-135M-Instruct.Q4_1.gguf \
//!     --output models/smollm2-moe-e4k1.gguf --experts 4 --experts-used 1
//! ```

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};
use llama_cpp_rs_moe::upcycle::{upcycle, RouterInit, UpcycleOptions};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Router {
    /// All-zero router weights.
    Zero,
    /// Small uniform random router weights (see --seed).
    Random,
}

#[derive(Parser, Debug)]
#[command(about = "Upcycle a dense llama GGUF into a llama MoE GGUF with identical experts")]
struct Args {
    /// Dense llama-architecture GGUF to read.
    #[arg(long)]
    input: PathBuf,

    /// MoE GGUF to write (replaced if it exists).
    #[arg(long)]
    output: PathBuf,

    /// Experts per layer.
    #[arg(long, default_value_t = 4)]
    experts: u32,

    /// Experts used per token (top-k).
    #[arg(long, default_value_t = 1)]
    experts_used: u32,

    /// Router initialisation.
    #[arg(long, value_enum, default_value_t = Router::Zero)]
    router: Router,

    /// Seed of the random router (same seed, same file).
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let options = UpcycleOptions {
        n_experts: args.experts,
        n_experts_used: args.experts_used,
        router: match args.router {
            Router::Zero => RouterInit::Zero,
            Router::Random => RouterInit::Random { seed: args.seed },
        },
    };
    let t0 = Instant::now();
    let report = upcycle(&args.input, &args.output, &options).with_context(|| {
        format!(
            "upcycling {} into {}",
            args.input.display(),
            args.output.display()
        )
    })?;
    println!(
        "wrote {}: {} layers, n_embd {}, n_ff {}, {} experts (top-{}), {} -> {} tensors, {} -> {} bytes, {:.1} s",
        args.output.display(),
        report.n_layers,
        report.n_embd,
        report.n_ff,
        report.n_experts,
        report.n_experts_used,
        report.tensors_in,
        report.tensors_out,
        report.input_bytes,
        report.output_bytes,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
