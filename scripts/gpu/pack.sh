#!/usr/bin/env bash
# Runs HERE (the Rust machine). Prepares dist/gpu/ for the GPU machine, which
# has no Rust toolchain: release binaries linked against llama.cpp's shared
# libraries (dynamic-link), the test binaries, and the llama.cpp sources the
# GPU machine builds its CUDA libraries from (same tree, same cmake options
# as llama-cpp-sys/build/cmake_build.rs plus GGML_CUDA=ON).
#
# Usage: scripts/gpu/pack.sh        (then carry dist/gpu with the device tool)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=dist/gpu
rm -rf "$out" && mkdir -p "$out/bin"

# Shared libraries: the GPU machine supplies its own (CUDA) build of them.
features=dynamic-link
cargo build --release --features "$features" \
    --example moe_offload --example bench_moe --example synth_moe --example upcycle_moe
for example in moe_offload bench_moe synth_moe upcycle_moe; do
    strip -o "$out/bin/$example" "target/release/examples/$example"
done
# Test binaries: cargo prints their paths.
cargo test --release --features "$features" --no-run --test placement --test moe_equivalence \
    --test gpu_oom --test cpu_weight_paths --test planner \
    --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["target"]["name"], m["executable"])' \
    | while read -r name exe; do strip -o "$out/bin/test_$name" "$exe"; done

# Only what cmake needs: no tools, tests, vendor code or other backends' sources.
tar -C llama-cpp-sys -cJf "$out/llama.cpp.tar.xz" \
    --exclude='llama.cpp/ggml/src/ggml-vulkan' --exclude='llama.cpp/ggml/src/ggml-opencl' \
    --exclude='llama.cpp/ggml/src/ggml-metal' --exclude='llama.cpp/tools' --exclude='llama.cpp/pocs' \
    --exclude='llama.cpp/common' --exclude='llama.cpp/vendor' --exclude='llama.cpp/convert_hf_to_gguf.py' \
    llama.cpp
# llama.cpp's own fit (common/fit.cpp and the log it needs), for fit_harness.cpp.
tar -C llama-cpp-sys -cJf "$out/llama-common.tar.xz" \
    llama.cpp/common/{common.h,log.h,log.cpp,fit.h,fit.cpp}
# Rust binaries compress about 3x; transfers are limited to 64 MiB.
tar -C "$out" -cJf "$out/bin.tar.xz" bin && rm -rf "$out/bin"
cp benches/c/expert_gemv.c "$out/"
cp scripts/gpu/run.sh scripts/gpu/h2d_bandwidth.cu scripts/gpu/tilecfg.cpp \
    scripts/gpu/plan_table.py scripts/gpu/paired.py scripts/gpu/fit_harness.cpp "$out/"

# The dense test model does not fit one transfer (64 MiB): two halves.
mkdir -p dist/gpu-model-a dist/gpu-model-b
split -n 2 -d models/SmolLM2-135M-Instruct.Q4_1.gguf dist/gpu-model-part
mv dist/gpu-model-part00 dist/gpu-model-a/part00
mv dist/gpu-model-part01 dist/gpu-model-b/part01
du -sh "$out" "$out"/* dist/gpu-model-a dist/gpu-model-b
