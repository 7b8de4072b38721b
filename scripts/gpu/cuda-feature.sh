#!/usr/bin/env bash
# Runs ON THE GPU MACHINE: proves the `cuda` feature. dist/cuda/moe_offload was
# built on the Rust machine with
#   CUDA_HOME=<CUDA 13.0 from PyPI wheels> CMAKE_CUDA_ARCHITECTURES=90-real \
#   cargo build --release --features cuda --example moe_offload
# (static llama.cpp + ggml-cuda inside; cudart/cublas/cuda linked dynamically).
# The GPU machine supplies cuBLAS from its CUDA 13.0 toolkit and the driver.
set -euo pipefail
root=$(pwd); work=$root/gpu-work; out=${OUT:-$root/gpu-out}
mkdir -p "$work/cpu-libs" "$work/models" "$out"
tar -C "$work/cpu-libs" -xJf dist/cuda/cpu-libs.tar.xz
[ -d "$work/bin" ] || tar -C "$work" -xJf dist/gpu/bin.tar.xz
model=$work/models/gpt-oss-20b.gguf
[ -f "$model" ] || LD_LIBRARY_PATH=$work/cpu-libs "$work/bin/synth_moe" --preset gpt-oss-20b --output "$model" > /dev/null
cublas=$(ls /usr/local/cuda/lib64/libcublas.so.13 /usr/local/cuda*/lib64/libcublas.so.13 /usr/local/cuda*/targets/*/lib/libcublas.so.13 2>/dev/null | head -n 1)
echo "cuBLAS: $cublas" | tee "$out/cuda-feature-env.txt"
grep -o 'avx512[a-z_0-9]*' /proc/cpuinfo | sort -u | tr '\n' ' ' >> "$out/cuda-feature-env.txt"
LD_LIBRARY_PATH=$(dirname "$cublas") ldd dist/cuda/moe_offload >> "$out/cuda-feature-env.txt"
chmod +x dist/cuda/moe_offload
LD_LIBRARY_PATH=$(dirname "$cublas") dist/cuda/moe_offload --model "$model" --cpu-moe --compare --runs 2 --n-predict 32 --no-sha256 -v \
    > "$out/cuda-feature.txt" 2>&1
