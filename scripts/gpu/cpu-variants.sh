#!/usr/bin/env bash
# Runs HERE (gcc 12, the compiler of the project's machines). Builds ggml's CPU
# backend as a shared library for an AMX CPU (-march=sapphirerapids, what
# `native` gives on one) in three ways, for scripts/gpu/run.sh `amx-check` to
# swap in on the GPU machine's Xeon:
#   spr          AMX compiled as ggml b10200 does it: the build that died with SIGILL
#   spr-no-amx   with build/cpu.rs's -mno-amx-* flags (the `native` feature on an AMX CPU)
#   spr-amx-fix  AMX compiled with -fno-dse (the `amx` feature)
#   native, portable  this machine's `native` feature and default build, for local speed A/B
# Also counts tile instructions and shows the code before each ldtilecfg.
#
# Usage: scripts/gpu/cpu-variants.sh   (output: dist/gpu-cpu/)
set -euo pipefail
cd "$(dirname "$0")/../.."
src=$PWD/llama-cpp-sys/llama.cpp
out=$PWD/dist/gpu-cpu
work=${CPU_VARIANTS_WORK:-$PWD/target/cpu-variants}
mkdir -p "$out" "$work"
declare -A flags=(
    [spr]="-march=sapphirerapids"
    [spr-no-amx]="-march=sapphirerapids -mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
    [spr-amx-fix]="-march=sapphirerapids -fno-dse"
    [native]="-march=native -mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
    [portable]=""
)
# `native` (the `native` feature) and `portable` (the default build) are this machine's, for local
# A/B runs only: swapped in with LD_LIBRARY_PATH under a dynamic-link binary.
for variant in ${VARIANTS:-spr spr-no-amx spr-amx-fix native portable}; do
    build=$work/$variant
    if [ ! -f "$build/bin/libggml-cpu.so" ]; then
        cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON -DGGML_NATIVE=OFF \
            -DGGML_OPENMP=OFF -DGGML_CCACHE=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_COMMON=OFF -DLLAMA_BUILD_TESTS=OFF \
            -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF \
            -DCMAKE_C_FLAGS="${flags[$variant]}" -DCMAKE_CXX_FLAGS="${flags[$variant]}" > "$work/$variant-configure.log"
        cmake --build "$build" -j "$(nproc)" --target ggml-cpu > "$work/$variant-build.log"
    fi
    # Under the soname: that is the file the binaries' loader looks for.
    mkdir -p "$out/$variant" && cp -L "$build"/bin/libggml-cpu.so.0 "$out/$variant/"
    tiles=$(objdump -d --no-show-raw-insn "$build/bin/libggml-cpu.so.0" | grep -cE '\s(ldtilecfg|tilezero|tileloadd|tdpbssd|tdpbusd|tilestored)\s' || true)
    echo "$variant: ${flags[$variant]} -> $tiles tile instructions"
    # The tile configuration written before each ldtilecfg: only a palette byte
    # (movb $0x1) means the rows/colsb stores were dropped.
    objdump -d --no-show-raw-insn "$build/bin/libggml-cpu.so.0" | grep -B8 -m2 ldtilecfg > "$out/$variant/ldtilecfg.txt" || true
done
