#!/usr/bin/env bash
# The "drop-in" lane: llama-cpp-rs's own examples/usage.rs and examples/simple/ (commit bed81ad,
# taken from the git bundle at test time, never copied into this repository) build unchanged
# against our llama-cpp crate renamed to llama-cpp-2 in a Cargo.toml, and then generate text.
#
# Usage: scripts/dropin.sh
#   UPSTREAM_BUNDLE     the bundle (default: ../shared/upstream/llama-cpp-rs-bed81ad.bundle
#                       beside the repository); absent: the lane is skipped, exit 0
#   LLAMA_CPP_LIB_DIR   an existing llama.cpp build to link (the Makefile passes test-static's);
#                       unset: llama-cpp-sys builds llama.cpp with cmake (minutes)
#   LLAMA_TEST_MODEL    the GGUF model to run (default: models/SmolLM2-135M-Instruct.Q4_1.gguf)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bundle=${UPSTREAM_BUNDLE:-$repo/../shared/upstream/llama-cpp-rs-bed81ad.bundle}
branch=upstream-bed81ad
commit=bed81ad
model=${LLAMA_TEST_MODEL:-$repo/models/SmolLM2-135M-Instruct.Q4_1.gguf}
work=$repo/target/dropin

log() { printf '[dropin] %s\n' "$*" >&2; }
die() { printf '[dropin] error: %s\n' "$*" >&2; exit 1; }

if [ ! -f "$bundle" ]; then
    log "skipped: no upstream bundle at $bundle (set UPSTREAM_BUNDLE to its path)"
    exit 0
fi

rm -rf "$work/upstream" "$work/project"
mkdir -p "$work"
git clone --quiet --branch "$branch" "$bundle" "$work/upstream"
head=$(git -C "$work/upstream" rev-parse HEAD)
case $head in
    "$commit"*) ;;
    *) die "the bundle's $branch is $head, expected $commit" ;;
esac
log "upstream llama-cpp-rs $head"

# The generated project: upstream's simple/src/main.rs as the binary, usage.rs as an example,
# both byte for byte. The manifest is ours (upstream's uses its workspace's dependency table),
# with the dependencies the two files import.
project=$work/project
mkdir -p "$project/src" "$project/examples"
cp "$work/upstream/examples/simple/src/main.rs" "$project/src/main.rs"
cp "$work/upstream/examples/usage.rs" "$project/examples/usage.rs"
cat > "$project/Cargo.toml" <<TOML
[package]
name = "simple"
version = "0.0.0"
edition = "2021"
publish = false

# Its own workspace: the project sits under this repository's target/.
[workspace]

[dependencies]
llama-cpp-2 = { package = "llama-cpp-moe", path = "$repo/llama-cpp" }
anyhow = "1"
clap = { version = "4", features = ["derive"] }
encoding_rs = "0.8"
# The sync API that simple uses, without hf-hub's default async client (reqwest, tokio,
# native-tls): fewer crates to build, same code compiled.
hf-hub = { version = "0.5", default-features = false, features = ["ureq"] }
tracing-subscriber = "0.3"

[features]
cuda = ["llama-cpp-2/cuda"]
# Our crate has no Vulkan build: this empty feature only switches on simple's
# cfg(any(feature = "cuda", feature = "vulkan")) code (--disable-gpu, --cmoe), so that the
# second build compiles it without a GPU toolkit.
vulkan = []
TOML

export CARGO_TARGET_DIR=$work/target
bin=$CARGO_TARGET_DIR/debug
cd "$project"
log "cargo build --bin simple --example usage (llama-cpp renamed to llama-cpp-2)"
cargo build --bin simple --example usage

have_model=true
if [ ! -f "$model" ]; then
    log "runs skipped: no model at $model (scripts/bootstrap.sh fetches it)"
    have_model=false
fi

# Generated text is what a run prints on stdout, less simple's timing lines (the first one
# follows the text on its line: the text has no final newline).
check_text() {
    local name=$1 out=$2 text
    text=$(sed -e 's/prompt eval time = .*//' -e '/^eval time = /d' \
        -e '/^Device /d' -e '/^           [A-Z]/d' "$out")
    [ "$(printf '%s' "$text" | tr -d '[:space:]' | wc -c)" -ge 8 ] \
        || die "$name generated no text; its stdout: $(cat "$out")"
    log "$name generated: $(printf '%s' "$text" | tr '\n' ' ' | head -c 200)"
}

# One thread: the runs must not depend on what else the machine is doing. usage.rs has no
# thread option and takes llama.cpp's default of 4 threads, whose spin-waiting workers on fewer
# cores crawl (4 tokens in 100 s on the 2-core CI machine under load): it runs with 4 cores or
# more, and tests/dropin_compat.rs runs its loop with 2 threads everywhere.
if $have_model; then
    log "simple -t 1 -p ... --n-len 32 local $model"
    "$bin/simple" -t 1 -p "The capital of France is" --n-len 32 local "$model" \
        > "$work/simple.out"
    check_text simple "$work/simple.out"
    if [ "$(nproc)" -ge 4 ]; then
        log "usage $model"
        "$bin/examples/usage" "$model" > "$work/usage.out"
        check_text usage "$work/usage.out"
    else
        log "usage: built, not run: $(nproc) cores, and it takes 4 threads (see above)"
    fi
fi

log "cargo build --features vulkan --bin simple (simple's GPU options)"
cargo build --features vulkan --bin simple
if $have_model; then
    # --cmoe: add_cpu_moe_override (nothing matches in a dense model, the load still checks
    # the pattern); -o: append_kv_override with the model's own context length;
    # --list-devices: list_llama_ggml_backend_devices, with each device's backend.
    log "simple --list-devices --cmoe -o llama.context_length=8192 local $model"
    "$bin/simple" -t 1 --list-devices --cmoe -o llama.context_length=8192 -p "Paris is" \
        --n-len 16 local "$model" > "$work/simple-gpu-options.out"
    grep -q '^           Backend: CPU$' "$work/simple-gpu-options.out" \
        || die "simple --list-devices shows no CPU backend: $(cat "$work/simple-gpu-options.out")"
    check_text "simple --cmoe -o" "$work/simple-gpu-options.out"
fi
ran=$($have_model && echo ', simple generated text' || true)
log "passed: upstream's usage.rs and simple/ built unchanged$ran"
