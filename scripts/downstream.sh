#!/usr/bin/env bash
# The "cargo add" lane: package both crates, unpack them outside the
# repository, and build and run a new program made with `cargo new` +
# `cargo add`, as a new user would. llama-cpp-moe-sys is patched in by path from
# its unpacked package (it is not on the registry yet), so the llama.cpp
# sources used are the ones inside the package: nothing from this repository.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# Outside the repository: path dependencies under a workspace root would
# silently become members of that workspace.
work=${DOWNSTREAM_DIR:-${TMPDIR:-/tmp}/llama-cpp-downstream}
model=${LLAMA_TEST_MODEL:-$repo/models/SmolLM2-135M-Instruct.Q4_1.gguf}
rm -rf "$work/unpacked" "$work/hello-moe" && mkdir -p "$work/unpacked"

cd "$repo"
cargo package -p llama-cpp-moe-sys -p llama-cpp-moe --no-verify --allow-dirty --target-dir "$work/package" 2>&1 | grep -E "Packaged|error" || true
for crate in "$work"/package/package/*.crate; do
    awk -v name="$(basename "$crate")" -v bytes="$(stat -c %s "$crate")" 'BEGIN { printf "%-40s %8.2f MiB compressed\n", name, bytes / 1048576 }' 
    tar -xzf "$crate" -C "$work/unpacked"
done
sys_dir=$(ls -d "$work"/unpacked/llama-cpp-moe-sys-*)
safe_dir=$(ls -d "$work"/unpacked/llama-cpp-moe-[0-9]*)

cd "$work"
cargo new --quiet hello-moe
cd hello-moe
export CARGO_TARGET_DIR=$work/target
# The patch goes in first: `cargo add` resolves the new dependency's own
# dependencies, and llama-cpp-moe-sys is not on the registry yet.
cat >> Cargo.toml <<TOML

[patch.crates-io]
llama-cpp-moe-sys = { path = "$sys_dir" }
TOML
cargo add --quiet --path "$safe_dir"
cat > src/main.rs <<'RS'
use llama_cpp_moe::{AddBos, LlamaBackend, LlamaContextParams, LlamaModel, LlamaModelParams, LlamaSampler, LlamaBatch, Special};
use std::num::NonZeroU32;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: hello-moe MODEL.gguf")?;
    let mut backend = LlamaBackend::init()?;
    backend.void_logs();
    let params = LlamaModelParams::default().with_cpu_moe_all().with_n_cpu_moe(4);
    println!("overrides: {:?}", params.tensor_overrides());
    let model = LlamaModel::load_from_file(&backend, &path, &params)?;
    let mut ctx = model.new_context(&backend, LlamaContextParams::default().with_n_ctx(NonZeroU32::new(128)))?;
    let vocab = model.vocab();
    let prompt = vocab.tokenize("The capital of France is", AddBos::Always, false)?;
    let mut batch = LlamaBatch::new(128, 1);
    batch.add_sequence(&prompt, 0, false)?;
    ctx.decode(&mut batch)?;
    let mut sampler = LlamaSampler::greedy();
    let mut text = String::new();
    for pos in prompt.len()..prompt.len() + 12 {
        let token = sampler.sample(&ctx, -1)?;
        if vocab.is_eog(token) { break; }
        text.push_str(&vocab.token_to_piece(token, Special::Plaintext)?);
        batch.clear();
        batch.add(token, pos as i32, &[0], true)?;
        ctx.decode(&mut batch)?;
    }
    println!("{} layers, {} bytes of weights; generated:{text}", model.n_layer(), model.size());
    Ok(())
}
RS
cargo run --quiet --release -- "$model"
