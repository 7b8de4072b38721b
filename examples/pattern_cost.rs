//! Load time of `with_n_cpu_moe(n)` (one alternation pattern) against the n
//! separate patterns llama.cpp's `--n-cpu-moe n` adds. The loader compiles a
//! `std::regex` for every tensor and every pattern until one matches, so n
//! patterns cost n compilations per non-matching tensor.
//!
//! ```text
//! cargo run --release --example pattern_cost -- [MODEL] [RUNS]
//! ```

use anyhow::Result;
use llama_cpp::offload::MOE_EXPERTS_PATTERN;
use llama_cpp::{BufferType, LlamaBackend, LlamaModel, LlamaModelParams, LoadMode};
use llama_cpp_rs_moe::measure::Summary;
use llama_cpp_rs_moe::models::moe_test_model;
use std::time::Instant;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args.next().map(Into::into).unwrap_or_else(moe_test_model);
    let runs: usize = args.next().map(|r| r.parse()).transpose()?.unwrap_or(5);
    let mut backend = LlamaBackend::init()?;
    backend.void_logs();
    let n_layer = llama_cpp::gguf::GgufFile::open(&path)?
        .arch_value("block_count")
        .and_then(|v| v.as_u64())
        .unwrap_or(0) as usize;
    let base = LlamaModelParams::default().with_load_mode(LoadMode::Mmap);
    let one = base.clone().with_n_cpu_moe(n_layer);
    let mut many = base.clone();
    for layer in 0..n_layer {
        many = many.with_tensor_override(
            &format!(r"blk\.{layer}{MOE_EXPERTS_PATTERN}"),
            BufferType::Cpu,
        )?;
    }
    let (mut t_one, mut t_many, mut t_none) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..=runs {
        for (params, times) in [
            (&base, &mut t_none),
            (&one, &mut t_one),
            (&many, &mut t_many),
        ] {
            let start = Instant::now();
            let model = LlamaModel::load_from_file(&backend, &path, params)?;
            let ms = start.elapsed().as_secs_f64() * 1e3;
            drop(model);
            if run > 0 {
                times.push(ms);
            }
        }
    }
    println!(
        "model {} ({n_layer} layers), mmap, {runs} runs after a warm-up, load time in ms:",
        path.display()
    );
    println!(
        "  no override                    {}",
        Summary::of(&t_none).unwrap()
    );
    println!(
        "  with_n_cpu_moe({n_layer}): 1 pattern   {}",
        Summary::of(&t_one).unwrap()
    );
    println!(
        "  {n_layer} patterns (llama.cpp CLI)     {}",
        Summary::of(&t_many).unwrap()
    );
    Ok(())
}
