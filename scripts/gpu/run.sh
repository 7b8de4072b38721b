#!/usr/bin/env bash
# Runs ON THE GPU MACHINE (no Rust toolchain), from the repository root, with
# dist/gpu carried there (see pack.sh). Builds llama.cpp's shared CUDA
# libraries once per warm machine, then runs the requested steps; every
# result goes to $OUT.
#
# Usage: dist/gpu/run.sh STEP [STEP...]
#   setup        build the CUDA libraries (kept in gpu-work/ while the machine stays warm;
#                also returned in parts under $OUT, to be carried as dist/gpu-libs next time)
#   h2d          host-to-device copy bandwidth (pinned and pageable)
#   sweep-*      GPT-OSS-20B --cpu-moe settings sweeps (see the case list at the end)
#   collect      bundle every result of this call into $OUT/results.tgz (the tool returns 8 files at most)
#   stash        keep the carried half of the SmolLM2 model (dist/gpu-model-a or -b) in gpu-work/parts:
#                the halves (47 MB each) and the libraries cannot travel in one call (64 MiB), so on a
#                warm machine: call 1 `setup ...` (dist/gpu-libs), call 2 `stash` (dist/gpu-model-a),
#                call 3 `test-moe collect` (dist/gpu-model-b), each within the machine's idle timeout
#   test-moe     assemble + upcycle SmolLM2, run moe_offload, the placement and equivalence tests
#   demo-gptoss  write a GPT-OSS-20B-shaped model, run moe_offload with and without --cpu-moe
#   bench-gptoss | bench-phi | bench-deepseek | bench-qwen3   the benchmark sweeps
#   cpu-builds   ggml-cpu as the crate's CPU options build it, with this machine's gcc: native (as
#                b10200 builds it, AMX included), native-no-amx (the `native` feature), portable (the default)
#   tilecfg      does this machine's gcc keep the AMX tile configuration (tilecfg.cpp)?
#   amx-check    tests/cpu_weight_paths.rs on the CPU alone with each ggml-cpu variant (carried gcc 12
#                builds from cpu-variants.sh in dist/gpu-cpu, and cpu-builds'): SIGILL or the CPU line
#   cpu-decode   GPT-OSS-20B --cpu-moe with each cpu-builds variant (Rust loop, 5 runs)
#   plan         the placement planner (issue 13): its GPU test on a 2-layer Qwen3 model, then on
#                GPT-OSS-20B shapes per VRAM budget (PLAN_BUDGETS, GiB; default 4 6 8 10) the plan
#                against the best --n-cpu-moe N that fits the same budget and against llama.cpp's
#                own fit (common_fit_params), 512- and 4,096-token prompts, Rust loop, 3 runs, each
#                plan in a bench_moe process of its own;
#                plan-table.md holds the table (after setup; about 7 min with the model written)
#   calib        the planner's calibration rows for PRESET: --cpu-moe and --n-cpu-moe (half the layers),
#                in turns (--interleave), 8 runs each; plan and gap read them (fit_calib)
#   gap          at GAP_BUDGET GiB (default 10) for PRESET, the plan, the best --n-cpu-moe N and llama.cpp's
#                fit, 512- and 4,096-token prompts, all loaded at once and run in turns (bench_moe
#                --interleave, RUNS default 8): paired ratios per run (paired.py), free of host drift,
#                the plan's 512-token row twice (its ratio to itself: the noise floor), and calib's two
#                rows in the same turns (the plan re-predicted with them)
#   decode-gap   at GAP_BUDGET GiB for PRESET, decode alone: the plan, the best --n-cpu-moe N, the plan
#                again and the plan moving the last layers' experts first, 512-token prompt, GEN (default
#                128) tokens, in turns, RUNS default 16, with calib's two rows: six rows, not gap's nine
#   order        PRESET's (default Qwen3-30B-A3B) first half of the layers' experts on the host against its
#                last half, 512-, 2,048- and 4,096-token prompts, in turns and then one after another
#   planner-test tests/planner.rs's GPU tests (plan runs them first unless PLAN_TEST=0)
#   moe-calibrate  `moe_offload --calibrate` on PRESET within CALIBRATE_BUDGET (default 8GiB), RUNS
#                default 5: the one-command calibration, beside calib's rows
#   plan-trades  the planner's own ubatch choice (fit_ubatch) at 8 GiB on 4,096- and 16,384-token prompts,
#                and the plan at ubatch 2,048 beside, each in a process of its own: does the reserve,
#                grown past 2,048-token ubatches, hold, and does the larger ubatch pay?
#   host-decode-a, host-decode-b  issue 15: GPT-OSS-20B --cpu-moe decode (example defaults, 5 runs) per thread count,
#                thread-pool setting (poll, priority, CPU mask), host buffer type (pinned vs CPU repack
#                vs plain), expert biases on the GPU, GGML_CUDA_GRAPH_OPT; --n-cpu-moe 12 beside
#   profile      the same --cpu-moe decode under nsys (when the machine has it): GPU kernel time,
#                CUDA API and OS-runtime time per token
#   expert-gemv  benches/c/expert_gemv.c with the default CPU backend: MXFP4 / Q4_0 / Q8_0 expert
#                matrices times one token at 1, 8 and 16 threads against a plain read of as many bytes
#   pack-libs    return every library built so far (CUDA, no-OpenMP, cpu-* variants) in parts of 15 MiB,
#                to carry as dist/gpu-libs next time
#
# Benchmarks load the crate's default CPU backend (cpu-builds' portable variant: GGML_NATIVE=OFF,
# no OpenMP) when cpu-builds has built it, not the CUDA build's own (-march=native, AMX, OpenMP).
set -euo pipefail
root=$(pwd)
dist=$root/dist/gpu
work=$root/gpu-work
# Results of this call; `collect` bundles them for the return trip.
out=$work/out
ret=${OUT:-$root/gpu-out}
mkdir -p "$work/models" "$out" "$ret"
bin=$work/bin
libs=$work/llama-build/bin
[ -d "$bin" ] || tar -C "$work" -xJf "$dist/bin.tar.xz"

# Folders that swap in another CPU backend under LD_LIBRARY_PATH hold it under the name the
# binaries ask the loader for (their NEEDED entry, the soname): a bare libggml-cpu.so there is
# never loaded, and the run silently uses $libs' own.
cpu_lib=libggml-cpu.so.0
fix_sonames() {
    local old
    for old in "$libs"/*/libggml-cpu.so "$root"/dist/gpu-cpu/*/libggml-cpu.so; do
        if [ -f "$old" ] && [ ! -e "${old%/*}/$cpu_lib" ]; then cp "$old" "${old%/*}/$cpu_lib"; fi
    done
}
fix_sonames
# Which libggml-cpu a binary loads with these library folders: loaded DIR...
loaded() { LD_LIBRARY_PATH=$(IFS=:; echo "$*") ldd "$bin/moe_offload" | grep -o 'libggml-cpu[^ ]* => [^ ]*'; }

log() { printf '\n### %s (%s)\n' "$*" "$(date +%T)" | tee -a "$out/steps.log"; }

# The aggregate CPU line of /proc/stat: user nice system idle iowait irq softirq steal (ticks).
cpu_ticks() { awk '/^cpu /{print $2, $3, $4, $5, $6, $7, $8, $9}' /proc/stat; }
# The share of CPU time stolen by the hypervisor and waiting on I/O between two cpu_ticks: a
# noisy neighbour or a writeback shows here, not in our rows' spread alone.
cpu_share() { # BEFORE AFTER
    awk -v a="$1" -v b="$2" 'BEGIN { n = split(a, x, " "); split(b, y, " ")
        for (i = 1; i <= n; i++) { d[i] = y[i] - x[i]; t += d[i] }
        if (t > 0) printf "steal %.1f%%, iowait %.1f%%, system %.1f%%, busy %.1f%%\n", 100 * d[8] / t,
            100 * d[5] / t, 100 * d[3] / t, 100 * (t - d[4] - d[5]) / t }'
}
# Memory reclaim and compaction since boot (/proc/vmstat): pages scanned by kswapd and in direct
# reclaim, compaction stalls. The pinned host experts of a gap's nine contexts take half the RAM;
# reclaim or compaction threads would take cores from the decode.
vm_counters() {
    awk '$1 ~ /^(pgscan_kswapd|pgscan_direct|compact_stall)$/ { s[$1] = $2 }
        END { print s["pgscan_kswapd"] + 0, s["pgscan_direct"] + 0, s["compact_stall"] + 0 }' /proc/vmstat
}
vm_delta() { # BEFORE AFTER
    awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " ")
        printf "pages scanned by kswapd %d, in direct reclaim %d; compaction stalls %d\n",
            y[1] - x[1], y[2] - x[2], y[3] - x[3] }'
}

hardware() {
    { nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
      lscpu | grep -E 'Model name|^CPU\(s\)|Thread|Core|Socket|NUMA node\(|L3'
      free -g | head -2
      nvcc --version | tail -2; cmake --version | head -1; gcc --version | head -1
    } > "$out/hardware.txt" 2>&1 || true
}

# Host memory bandwidth: 16-thread STREAM-like triad and copy in numpy over
# 2 GiB arrays, best of 5 (numpy releases the GIL in the ufunc loops).
bandwidth() {
    python3 - > "$out/bandwidth.txt" 2>&1 <<'PY' || true
import numpy as np, time, threading, os
n_threads = os.cpu_count() or 16
n = (2 << 30) // 8 // n_threads
a = [np.ones(n) for _ in range(n_threads)]; b = [np.ones(n) for _ in range(n_threads)]; c = [np.zeros(n) for _ in range(n_threads)]
def triad(i): np.add(a[i], b[i], out=c[i]); np.multiply(c[i], 1.0, out=c[i])
def copy(i): np.copyto(c[i], a[i])
for name, fn, bytes_per in [("copy", copy, 16), ("triad (add+scale)", triad, 48)]:
    best = 0
    for _ in range(5):
        ts = [threading.Thread(target=fn, args=(i,)) for i in range(n_threads)]
        t0 = time.perf_counter(); [t.start() for t in ts]; [t.join() for t in ts]; dt = time.perf_counter() - t0
        best = max(best, bytes_per * n * n_threads / dt / 1e9)
    print(f"{name}: {best:.1f} GB/s with {n_threads} threads")
PY
}

setup() {
    # Libraries built by an earlier call on another machine, carried back in parts.
    if [ ! -f "$libs/libggml-cuda.so" ] && ls "$root"/dist/gpu-libs/cuda-libs.tar.xz.part-* > /dev/null 2>&1; then
        log "unpacking carried CUDA libraries"
        mkdir -p "$libs" && cat "$root"/dist/gpu-libs/cuda-libs.tar.xz.part-* | tar -C "$libs" -xJf -
        fix_sonames
    fi
    if [ ! -f "$libs/libggml-cuda.so" ]; then
        log "building llama.cpp b10200 shared libraries with CUDA"
        rm -rf "$work/llama.cpp" && tar -C "$work" -xJf "$dist/llama.cpp.tar.xz"
        local t0=$SECONDS
        cmake -S "$work/llama.cpp" -B "$work/llama-build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
            -DBUILD_SHARED_LIBS=ON -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90-real -DGGML_CUDA_NCCL=OFF \
            -DGGML_NATIVE=ON -DGGML_OPENMP=ON -DGGML_CCACHE=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_COMMON=OFF \
            -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
            -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF > "$out/cmake-configure.log" 2>&1
        cmake --build "$work/llama-build" -j16 > "$out/cmake-build.log" 2>&1
        echo "CUDA build: $((SECONDS - t0)) s" | tee -a "$out/steps.log"
    fi
    if [ "${SETUP_NOOMP:-1}" = 1 ] && [ ! -f "$libs/noomp/$cpu_lib" ]; then
        local t0=$SECONDS
        # The CPU backend without OpenMP (ggml's own thread pool), as the
        # crate's default build has it: only libggml-cpu differs, same ABI.
        cmake -S "$work/llama.cpp" -B "$work/noomp-build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON \
            -DGGML_NATIVE=ON -DGGML_OPENMP=OFF -DGGML_CCACHE=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_COMMON=OFF \
            -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
            -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF > "$out/cmake-noomp.log" 2>&1
        cmake --build "$work/noomp-build" -j16 --target ggml-cpu >> "$out/cmake-noomp.log" 2>&1
        mkdir -p "$libs/noomp" && cp -L "$work/noomp-build/bin/$cpu_lib" "$libs/noomp/"
        echo "no-OpenMP CPU build: $((SECONDS - t0)) s" | tee -a "$out/steps.log"
    fi
    ls -la "$libs"/*.so* > "$out/libs.txt"
    hardware
}

# The library folders benchmarks load: the crate's default CPU backend first when built.
lib_path() { if [ -f "$libs/cpu-portable/$cpu_lib" ]; then echo "$libs/cpu-portable:$libs"; else echo "$libs"; fi; }
run_bin() { LD_LIBRARY_PATH=$(lib_path) "$bin/$1" "${@:2}"; }

# Returned in parts of 15 MiB (the tool returns files of 16 MiB at most); carried as
# dist/gpu-libs/ they save the next cold machine the builds.
pack_libs() {
    (cd "$libs" && tar -cf - *.so* $(ls -d noomp cpu-* 2>/dev/null)) | xz -T16 -6 \
        | split -b 15M - "$ret/cuda-libs.tar.xz.part-"
    ls -la "$ret"
}

h2d() {
    nvcc -O2 -arch=sm_90 -o "$work/h2d" "$dist/h2d_bandwidth.cu" && "$work/h2d" | tee "$out/h2d-bandwidth.txt"
}

# One bench_moe process on GPT-OSS-20B shapes, Rust loop only unless WITH_C=1:
# sweep LABEL [VAR=value...] -- CONFIG...  (consecutive configs share the model)
sweep() {
    local label=$1; shift
    local envs=()
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done; shift
    local preset=${PRESET:-gpt-oss-20b}
    local model=$work/models/$preset.gguf
    synth "$preset" "$model"
    local args=()
    for c in "$@"; do args+=(--config "$c"); done
    [ "${WITH_C:-0}" = 1 ] || args+=(--no-c)
    [ "${INTERLEAVE:-0}" = 0 ] || args+=(--interleave)
    # What the turns cost when each context's workers keep polling after its run (the fifth run's way).
    [ "${KEEP_POLLING:-0}" = 0 ] || args+=(--keep-polling)
    log "sweep $label: ${envs[*]} $*"
    local ticks vm
    ticks=$(cpu_ticks) vm=$(vm_counters)
    env LD_LIBRARY_PATH="$(lib_path)" RUST_LOG=info "${envs[@]}" "$bin/bench_moe" --model "$model" --runs "${RUNS:-3}" \
        --json "$out/sweep-$label.json" "${args[@]}" > "$out/sweep-$label.txt" 2> "$out/sweep-$label.err" \
        || echo "sweep $label FAILED" | tee -a "$out/steps.log"
    { echo "sweep $label CPU time: $(cpu_share "$ticks" "$(cpu_ticks)")"
      echo "sweep $label memory: $(vm_delta "$vm" "$(vm_counters)"); $(grep MemAvailable /proc/meminfo)"
    } | tee -a "$out/steps.log"
    grep -E "^##|device|rust|Rust/C|^c " "$out/sweep-$label.txt" || true
}

# The placement planner (issue 13) against the best hand-picked --n-cpu-moe N that fits the
# same budget (bench_moe's fit= and ncm_fit=, both resolved by llama.cpp's no_alloc dry runs
# before loading) and against llama.cpp's own fit (common_fit_params, fit_harness.cpp, ot_file=).
# Every budget is for the peak: the planner keeps DEFAULT_RESERVE (256 MiB) out of its dry-run
# target, ncm_fit does the same, and llama.cpp's fit is given the budget less the same reserve.
fit_harness() {
    [ -x "$work/fit_harness" ] && return
    [ -f "$work/llama.cpp/include/llama.h" ] || tar -C "$work" -xJf "$dist/llama.cpp.tar.xz"
    tar -C "$work" -xJf "$dist/llama-common.tar.xz"
    local src=$work/llama.cpp
    g++ -O2 -std=c++17 -I"$src/include" -I"$src/ggml/include" -I"$src/common" -I"$src/src" \
        "$src/common/fit.cpp" "$src/common/log.cpp" "$dist/fit_harness.cpp" -o "$work/fit_harness" \
        -L"$libs" -lllama -lggml -lggml-base -Wl,-rpath,"$libs"
}

# llama.cpp's fit of PRESET's model for B GiB (less the planner's reserve), as "ot" and
# "n_gpu_layers" lines in $out/llfit-PRESET-B.txt for bench_moe's ot_file=: llfit PRESET B.
# The reserve is the planner's at the 2,048-token ubatch these rows run in (Planner::reserve_for(2048)
# = DEFAULT_RESERVE, 256 MiB; bench_moe's ncm_fit asks the planner for the same), so the three fits
# share one budget; bench_moe records the plan's in Predicted.reserve_bytes.
llfit() {
    local preset=$1 b=$2
    fit_harness
    log "llama.cpp's fit for $b GiB"
    LD_LIBRARY_PATH=$libs "$work/fit_harness" "$work/models/$preset.gguf" $(((b << 30) - (256 << 20))) 8192 2048 \
        > "$out/llfit-$preset-$b.txt" 2> "$out/llfit-$preset-$b.err" \
        || echo "fit_harness $b FAILED" | tee -a "$out/steps.log"
    grep -v '^ot ' "$out/llfit-$preset-$b.txt" | tr '\n' ' '; grep -c '^ot ' "$out/llfit-$preset-$b.txt" || true
}

# tests/planner.rs's GPU tests on a 2-layer Qwen3-30B-A3B-shaped model.
planner_test() {
    local small=$work/models/qwen3-2l.gguf
    [ -f "$small" ] || "$bin/synth_moe" --preset qwen3-30b-a3b --layers 2 --output "$small" > /dev/null
    log "planner test on the GPU (2-layer Qwen3-30B-A3B shapes)"
    LLAMA_TEST_MOE_MODEL=$small run_bin test_planner --ignored --nocapture --test-threads 1 \
        > "$out/test-planner.txt" 2>&1 || echo "planner test FAILED" | tee -a "$out/steps.log"
    tail -n 3 "$out/test-planner.txt"
}

# `moe_offload --calibrate` on PRESET (default gpt-oss-20b) within CALIBRATE_BUDGET (default 8GiB):
# the calibration a user makes in one command, to set beside calib's.
moe_calibrate() {
    local preset=${PRESET:-gpt-oss-20b}
    synth "$preset" "$work/models/$preset.gguf"
    log "moe_offload --calibrate, $preset, ${CALIBRATE_BUDGET:-8GiB}"
    run_bin moe_offload --model "$work/models/$preset.gguf" --calibrate --vram-budget "${CALIBRATE_BUDGET:-8GiB}" \
        --no-sha256 --runs "${RUNS:-5}" --json "$out/calibrate-$preset.json" > "$out/calibrate-$preset.txt" 2>&1 \
        || echo "moe_offload --calibrate FAILED" | tee -a "$out/steps.log"
    grep -E '^(calibration|speed model|these speeds)' "$out/calibrate-$preset.txt" || tail -n 5 "$out/calibrate-$preset.txt"
}

# PRESET (default gpt-oss-20b), PLAN_BUDGETS (GiB), PLAN_TEST=0 skips the GPU test, and
# PLAN_LABEL names the sweep (plan-LABEL), so budgets can be split over calls.
plan() {
    local preset=${PRESET:-gpt-oss-20b} b configs
    local model=$work/models/$preset.gguf label=plan${PLAN_LABEL:+-$PLAN_LABEL}
    [ "${PLAN_TEST:-1}" = 0 ] || planner_test
    synth "$preset" "$model"
    local common=example=1,ctx=8192,gen=64 calib=
    # The speed model calibrated on this machine's --cpu-moe and --n-cpu-moe (half the layers)
    # rows of PRESET (calib), or GPT-OSS-20B's host-decode-a/-b rows, when measured: decode
    # fits the host constants, prompt the routing spread.
    # PLAN_CALIB gives the points of an earlier call ("all:TPS;N:TPS;..."), where this
    # machine was started afresh since calib ran.
    calib=${PLAN_CALIB:-$(calib_points)}
    [ -z "$calib" ] || echo "fit_calib=$calib" | tee -a "$out/steps.log"
    local files=()
    for b in ${PLAN_BUDGETS:-3 4 6 8 10}; do
        llfit "$preset" "$b"
        # The plan in a process of its own: its used memory is then what a program that loads
        # it pays, the CUDA kernels and cuBLAS loaded on first use included (once per process,
        # so a sweep's later models show less). Its baselines run right after it (host drift).
        configs=("fit$b-p512:fit=${b}GiB,$common${calib:+,fit_calib=$calib}"
            "fit$b-p4096:fit=${b}GiB,$common,prompt=4096${calib:+,fit_calib=$calib}")
        RUNS=${RUNS:-3} sweep "$label-fit$b" -- "${configs[@]}"
        configs=("ncm$b-p512:ncm_fit=${b}GiB,$common" "ncm$b-p4096:ncm_fit=${b}GiB,$common,prompt=4096"
            "llfit$b-p512:ot_file=$out/llfit-$preset-$b.txt,$common"
            "llfit$b-p4096:ot_file=$out/llfit-$preset-$b.txt,$common,prompt=4096")
        # PLAN_BIAS_GPU: budgets where the plan with its expert biases kept on the GPU (the
        # planner's earlier default) runs beside, and the default plan once more after it.
        case " ${PLAN_BIAS_GPU:-} " in *" $b "*)
            configs+=("bias$b-p512:fit=${b}GiB,fit_bias_gpu=1,$common${calib:+,fit_calib=$calib}"
                "fit$b-p512-2:fit=${b}GiB,$common${calib:+,fit_calib=$calib}") ;;
        esac
        RUNS=${RUNS:-3} sweep "$label-base$b" -- "${configs[@]}"
        files+=("$out/sweep-$label-fit$b.json" "$out/sweep-$label-base$b.json")
    done
    python3 "$dist/plan_table.py" "${files[@]}" | tee "$out/$label-table.md" || true
}

# Layers of a preset (the calibration's --n-cpu-moe row holds half of them).
preset_layers() { case $1 in gpt-oss-20b) echo 24 ;; phi-3.5-moe) echo 32 ;; deepseek-moe-16b) echo 28 ;; qwen3-30b-a3b) echo 48 ;; esac; }

# The calibration's two configs for PRESET with the keys EX: --cpu-moe and --n-cpu-moe (half the
# layers), one per line. calib runs them alone; gap and decode-gap run them in their turns, so that
# calib_points can read each sweep's own calibration back.
calib_rows() { # PRESET EX
    local half
    half=$(($(preset_layers "$1") / 2))
    printf '%s\n' "base:moe=all,$2" "ncm$half:moe=$half,$2"
}

# The planner's calibration rows for PRESET, example defaults, both loaded and run in turns
# (--interleave), RUNS (default 8), read back by calib_points.
calib() {
    local preset=${PRESET:-gpt-oss-20b} rows
    mapfile -t rows < <(calib_rows "$preset" example=1,gen=64)
    # KEEP_POLLING=1: the same rows with the workers left polling, kept apart from the calibration.
    local label=calib-$preset
    [ "${KEEP_POLLING:-0}" = 0 ] || label+=-polling
    INTERLEAVE=1 RUNS=${RUNS:-8} sweep "$label" -- "${rows[@]}"
}

# "all:TPS;N:TPS;all@P:TPS;N@P:TPS" for PRESET from calib's rows: mean Rust decode t/s, then mean
# Rust prompt t/s on their P-token prompts, as bench_moe prints them (examples/bench_moe/calibration.rs:
# one reading of the rows, in one place). The fit configs run in the example's ubatch, as these did.
# The newest such rows win: every gap and decode-gap runs the same two rows in its turns, and in the
# seventh run the host's --cpu-moe decode went 36.8 t/s in calib, then 27.7-33.2 in the gaps minutes
# later, so a calibration from the start of a call mispredicted decode by up to 24% where the last
# gap's rows were within 16%. Which file was used goes to steps.log.
calib_points() {
    local preset=${PRESET:-gpt-oss-20b} f points
    # shellcheck disable=SC2012 # names made by sweep, no odd characters
    for f in $(ls -t "$out/sweep-calib-$preset.txt" "$out/sweep-gap-$preset-"*.txt "$out/sweep-decode-$preset-"*.txt 2>/dev/null); do
        points=$(sed -n 's/^calibration points (ubatch [0-9]*): //p' "$f" | tail -n 1)
        if [ -n "$points" ]; then
            echo "calibration for $preset: $points, from $(basename "$f")" >> "$out/steps.log"
            echo "$points"
            return
        fi
    done
}

# The planner's own ubatch choice at 8 GiB for long prompts, beside the plan at the example's 2,048-token
# ubatch, each in a process of its own (the reserve grows past 2,048-token ubatches: does it hold the
# peak? and did the larger ubatch pay?), calibrated as plan and gap are.
plan_trades() {
    local p files=() calib
    calib=${PLAN_CALIB:-$(calib_points)}
    for p in 4096 16384; do
        RUNS=${RUNS:-2} sweep "plan-trades-$p" -- \
            "ub8-p$p:fit=8GiB,fit_ubatch=1,example=1,ctx=$((p + 1024)),gen=64,prompt=$p${calib:+,fit_calib=$calib}"
        # The same budget at the example's 2,048-token ubatch: did the planner's choice pay?
        RUNS=${RUNS:-2} sweep "plan-trades-$p-ub2048" -- \
            "ub2048-p$p:fit=8GiB,example=1,ctx=$((p + 1024)),gen=64,prompt=$p${calib:+,fit_calib=$calib}"
        files+=("$out/sweep-plan-trades-$p.json" "$out/sweep-plan-trades-$p-ub2048.json")
    done
    python3 "$dist/plan_table.py" "${files[@]}" | tee "$out/plan-trades.md" || true
}

# The plan, the best --n-cpu-moe N and llama.cpp's fit at one budget (GAP_BUDGET GiB, default 10),
# all loaded at once, their runs in turns: run-by-run ratios, free of the host's drift. calib's two
# rows run in the same turns, and bench_moe re-predicts the plan with them: the speed model's error
# apart from the drift since the plan's own calibration.
gap() {
    local b=${GAP_BUDGET:-10} preset=${PRESET:-gpt-oss-20b} calib p configs=() rows
    local common=example=1,ctx=8192,gen=64
    calib=${PLAN_CALIB:-$(calib_points)}
    synth "$preset" "$work/models/$preset.gguf"
    llfit "$preset" "$b"
    for p in 512 4096; do
        configs+=("fit$b-p$p:fit=${b}GiB,$common,prompt=$p${calib:+,fit_calib=$calib}"
            "ncm$b-p$p:ncm_fit=${b}GiB,$common,prompt=$p"
            "llfit$b-p$p:ot_file=$out/llfit-$preset-$b.txt,$common,prompt=$p")
    done
    # The plan's 512-token row once more: the spread of a placement against itself in the same
    # turns, so a paired ratio a few percent off 1 can be told from the host's noise.
    configs+=("aa$b-p512:fit=${b}GiB,$common,prompt=512${calib:+,fit_calib=$calib}")
    mapfile -t rows < <(calib_rows "$preset" example=1,gen=64)
    configs+=("${rows[@]}")
    INTERLEAVE=1 RUNS=${RUNS:-8} sweep "gap-$preset-$b" -- "${configs[@]}"
    python3 "$dist/paired.py" "$out/sweep-gap-$preset-$b.json" | tee "$out/gap-$preset-$b-table.md" || true
}

# gap's decode verdict, decided: in the seventh run the plan against itself spread 0.951-1.051 in
# decode medians over 6-8 turns of nine rows, wider than the 3% to judge. Fewer rows, 128 tokens
# each, more turns, the same paired.py table (with its median-step column):
# - the plan, the best --n-cpu-moe N, the plan again (aa: the floor);
# - the plan with the last layers' experts moved first (fit_order=last): the plan's default order
#   follows the workload, and this one (512 tokens, then 128) decodes longer than it prompts, so
#   the plan moves the first layers' experts (the order that decoded 4-5% faster at 10 and 4 GiB in
#   the eighth and ninth runs); the other order against it, the order alone;
# - calib's two rows: the plan is re-predicted from them, and the next decode-gap is predicted from
#   them (calib_points), minutes old rather than the call's start (the host's --cpu-moe decode
#   drifted 25% within 20 minutes in the seventh run).
decode_gap() {
    local b=${GAP_BUDGET:-10} preset=${PRESET:-gpt-oss-20b} calib plan rows
    local ex=example=1,ctx=8192,gen=${GEN:-128},prompt=512
    calib=${PLAN_CALIB:-$(calib_points)}
    mapfile -t rows < <(calib_rows "$preset" "$ex")
    plan=fit=${b}GiB,$ex${calib:+,fit_calib=$calib}
    INTERLEAVE=1 RUNS=${RUNS:-16} sweep "decode-$preset-$b" -- \
        "fit$b-p512:$plan" "ncm$b-p512:ncm_fit=${b}GiB,$ex" "aa$b-p512:$plan" \
        "last$b-p512:$plan,fit_order=last" "${rows[@]}"
    python3 "$dist/paired.py" "$out/sweep-decode-$preset-$b.json" | tee "$out/decode-$preset-$b-table.md" || true
}

# Does the order in which layers' experts leave the GPU matter? PRESET's first half of the layers'
# experts on the host against its last half (an override file), 512-, 2,048- and 4,096-token
# prompts, with --cpu-moe beside: in turns (RUNS default 8), then one after another in one process.
# 4,096 tokens: the plans (last layers first) prompted 0.8-3.6% behind --n-cpu-moe N there in the
# fourth and sixth runs, at every Qwen3 budget, and level or ahead at 512.
order() {
    local preset=${PRESET:-qwen3-30b-a3b} n half ex=example=1,ctx=8192,gen=16 p configs=()
    n=$(preset_layers "$preset")
    half=$((n / 2))
    echo "ot blk\\.($(seq -s '|' "$half" $((n - 1))))\\.ffn_(up|down|gate)_exps.*=CPU" > "$out/last-half-$preset.txt"
    for p in 512 2048 4096; do
        configs+=("first-p$p:moe=$half,$ex,prompt=$p" "last-p$p:ot_file=$out/last-half-$preset.txt,$ex,prompt=$p")
    done
    configs+=("base-p512:moe=all,$ex,prompt=512")
    PRESET=$preset INTERLEAVE=1 RUNS=${RUNS:-8} sweep "order-$preset" -- "${configs[@]}"
    PRESET=$preset RUNS=${RUNS:-8} sweep "order-seq-$preset" -- "${configs[@]}"
    python3 - "$out/sweep-order-$preset.json" "$out/sweep-order-seq-$preset.json" <<'PY' | tee "$out/order-$preset.md"
import json, statistics, sys
for path in sys.argv[1:]:
    rows = {r["config"]["name"]: r["rust"]["prompt_tps"] for r in json.load(open(path))}
    for p in (512, 2048, 4096):
        a, b = rows[f"first-p{p}"], rows[f"last-p{p}"]
        ratio = statistics.median(x / y for x, y in zip(a, b))
        print(f"{path}: {p} tokens, first half / last half on the host: prompt {statistics.mean(a):,.0f} "
              f"/ {statistics.mean(b):,.0f} t/s, median of run i / run i {ratio:.3f}")
PY
}

cpu_builds() {
    local v noamx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
    # A setup that unpacked carried libraries has not unpacked the sources.
    [ -d "$work/llama.cpp" ] || tar -C "$work" -xJf "$dist/llama.cpp.tar.xz"
    for v in ${CPU_VARIANTS:-native native-no-amx portable}; do
        [ -f "$libs/cpu-$v/$cpu_lib" ] && continue
        local extra=()
        case $v in
            native) extra=(-DGGML_NATIVE=ON) ;;
            native-no-amx) extra=(-DGGML_NATIVE=ON "-DCMAKE_C_FLAGS=$noamx" "-DCMAKE_CXX_FLAGS=$noamx") ;;
            portable) extra=(-DGGML_NATIVE=OFF) ;;
        esac
        local t0=$SECONDS
        cmake -S "$work/llama.cpp" -B "$work/cpu-$v" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON \
            -DGGML_OPENMP=OFF -DGGML_CCACHE=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_COMMON=OFF -DLLAMA_BUILD_TESTS=OFF \
            -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF "${extra[@]}" > "$out/cmake-cpu-$v.log" 2>&1
        cmake --build "$work/cpu-$v" -j16 --target ggml-cpu >> "$out/cmake-cpu-$v.log" 2>&1
        mkdir -p "$libs/cpu-$v" && cp -L "$work/cpu-$v/bin/$cpu_lib" "$libs/cpu-$v/"
        local tiles
        tiles=$(objdump -d --no-show-raw-insn "$libs/cpu-$v/$cpu_lib" | grep -cE '\s(ldtilecfg|tilezero|tileloadd|tdpbssd|tdpbusd)\s' || true)
        echo "cpu-$v: $((SECONDS - t0)) s, $tiles tile instructions" | tee -a "$out/steps.log"
    done
}

tilecfg() {
    local f
    for f in "" "-fno-dse"; do
        g++ -O3 -march=sapphirerapids $f -c "$dist/tilecfg.cpp" -o "$work/tilecfg.o"
        echo "== $(g++ --version | head -1) -O3 -march=sapphirerapids $f"
        objdump -d --no-show-raw-insn "$work/tilecfg.o" | sed -n '/<_Z4initv>/,/ret/p'
    done | tee "$out/tilecfg.txt"
}

amx_check() {
    local dense=$work/models/SmolLM2-135M-Instruct.Q4_1.gguf moe=$work/models/smollm2-moe-e4k1.gguf
    if [ ! -f "$dense" ]; then
        stash
        cat "$work/parts/part00" "$work/parts/part01" > "$dense"
    fi
    [ -f "$moe" ] || run_bin upcycle_moe --input "$dense" --output "$moe" --experts 4 --experts-used 1 --router random > /dev/null
    grep -o 'amx[a-z_0-9]*' /proc/cpuinfo | sort | uniq -c | tee "$out/amx-flags.txt"
    local dir name rc
    for dir in "$root"/dist/gpu-cpu/* "$libs"/cpu-*; do
        name=$(basename "$dir")
        [ -f "$dir/$cpu_lib" ] || continue
        log "cpu_weight_paths with $name: $(loaded "$dir" "$libs")"
        rc=0
        CUDA_VISIBLE_DEVICES= LD_LIBRARY_PATH="$dir:$libs" LLAMA_TEST_MODEL=$dense LLAMA_TEST_MOE_MODEL=$moe \
            LLAMA_TEST_TMPDIR=$work/tmp "$bin/test_cpu_weight_paths" > "$out/amx-$name.txt" 2>&1 || rc=$?
        echo "$name: exit $rc; $(grep -hE '^CPU:|test result|signal' "$out/amx-$name.txt" | tr '\n' ' ')" | tee -a "$out/amx-check.txt"
    done
    # What `make demo` and the native lane run, on this AMX CPU, with gcc 12's native-equivalent build.
    local fixed=$root/dist/gpu-cpu/spr-no-amx
    log "MoE = dense and moe_offload on the CPU with spr-no-amx: $(loaded "$fixed" "$libs")"
    CUDA_VISIBLE_DEVICES= LD_LIBRARY_PATH="$fixed:$libs" LLAMA_TEST_MODEL=$dense LLAMA_TEST_MOE_MODEL=$moe \
        "$bin/test_moe_equivalence" > "$out/amx-equivalence.txt" 2>&1 || echo "equivalence FAILED" | tee -a "$out/steps.log"
    CUDA_VISIBLE_DEVICES= LD_LIBRARY_PATH="$fixed:$libs" "$bin/moe_offload" --model "$moe" --cpu-moe --runs 3 --compare \
        --n-predict 48 > "$out/amx-demo.txt" 2>&1 || echo "demo FAILED" | tee -a "$out/steps.log"
    tail -n 2 "$out/amx-equivalence.txt"; tail -n 8 "$out/amx-demo.txt"
}

# Issue 15: what a binding can choose for the --cpu-moe decode, each against the same
# baseline in the same process (the baseline runs first and last: drift shows).
host_decode_a() {
    local ex=moe=all,example=1,gen=64
    RUNS=5 sweep hd-threads -- "base:$ex" "t8:$ex,threads=8" "t12:$ex,threads=12" \
        "t14:$ex,threads=14" "t15:$ex,threads=15" "poll0:$ex,poll=0" "poll100:$ex,poll=100" \
        "base-end:$ex"
    # Masked rows in a process of their own: before the crate put the creating thread's
    # affinity back, ggml's pinning of it leaked the mask into later rows (a 16-thread row after
    # a 15-CPU one did not finish in 8 minutes); kept apart so the rows stay comparable.
    RUNS=5 sweep hd-mask -- "t15-cpu1-15-strict:$ex,threads=15,cpus=1-15,strict=1" \
        "t15-cpu1-15:$ex,threads=15,cpus=1-15" "t16-strict:$ex,cpus=0-15,strict=1" \
        "poll100-t15-cpu1-15:$ex,threads=15,cpus=1-15,poll=100" \
        "prio-high-t15-cpu1-15:$ex,threads=15,cpus=1-15,prio=high"
}

host_decode_b() {
    local ex=moe=all,example=1,gen=64 ot=$work/bias-gpu.ot
    # Host buffer types: pinned CUDA_Host (llama.cpp's default when a GPU is present), the CPU
    # repack types (MXFP4 8x8 on AVX2; computed on the CPU for prompts too), plain CPU memory.
    RUNS=5 sweep hd-bufs -- "repack:$ex,host_buffers=0" "plain:$ex,host_buffers=0,repack=0"
    # Expert biases stay on the GPU, the matrices go to the host.
    printf '%s\n' 'ot blk\.[0-9]+\.ffn_(up|down|gate|gate_up)_exps\.weight=CPU' > "$ot"
    RUNS=5 sweep hd-bias -- "bias-gpu:ot_file=$ot,example=1,gen=64"
    RUNS=5 sweep hd-graphopt GGML_CUDA_GRAPH_OPT=1 -- "graph-opt:$ex"
    RUNS=5 sweep hd-ncm12 -- "ncm12:moe=12,example=1,gen=64" "gpu:ngl=999,example=1,gen=64"
}

profile() {
    local model=$work/models/gpt-oss-20b.gguf nsys
    nsys=$(command -v nsys || ls /usr/local/cuda*/bin/nsys /opt/nvidia/nsight-systems/*/bin/nsys 2>/dev/null | head -n 1 || true)
    { echo "nsys: ${nsys:-none}"; echo "perf: $(command -v perf || echo none)"; } | tee "$out/profile-tools.txt"
    [ -n "$nsys" ] || return 0
    synth gpt-oss-20b "$model"
    log "nsys: --cpu-moe, example defaults, 1 run, 64 tokens"
    LD_LIBRARY_PATH=$(lib_path) "$nsys" profile -t cuda,osrt -s none --cpuctxsw=none -o "$work/decode" -f true \
        "$bin/bench_moe" --model "$model" --runs 1 --gen 64 --no-c --config "cpu-moe:moe=all,example=1" \
        > "$out/profile-run.txt" 2>&1 || echo "nsys FAILED" | tee -a "$out/steps.log"
    "$nsys" stats -r cuda_gpu_kern_sum,cuda_api_sum,cuda_gpu_mem_time_sum,osrt_sum -f csv -o "$out/profile" \
        "$work/decode.nsys-rep" > "$out/profile-stats.txt" 2>&1 || true
    ls "$out"/profile* ; head -n 12 "$out"/profile_cuda_gpu_kern_sum.csv "$out"/profile_cuda_api_sum.csv 2>/dev/null || true
}

expert_gemv() {
    [ -f "$work/llama.cpp/ggml/include/ggml.h" ] || tar -C "$work" -xJf "$dist/llama.cpp.tar.xz"
    local lib=$libs/cpu-portable t n
    [ -f "$lib/$cpu_lib" ] || lib=$libs
    gcc -O2 -pthread -o "$work/expert_gemv" "$dist/expert_gemv.c" -I"$work/llama.cpp/ggml/include" \
        -L"$libs" -lggml -lggml-base -l:libggml-cpu.so.0 -Wl,-rpath,"$lib:$libs"
    for t in mxfp4 q4_0 q8_0; do
        for n in 1 8 16; do LD_LIBRARY_PATH=$lib:$libs "$work/expert_gemv" "$t" "$n" 48 20; done
    done | tee "$out/expert-gemv.txt"
}

stash() {
    mkdir -p "$work/parts" && cp "$root"/dist/gpu-model-*/part* "$work/parts/" && ls -la "$work/parts"
}

test_moe() {
    local dense=$work/models/SmolLM2-135M-Instruct.Q4_1.gguf moe=$work/models/smollm2-moe-e4k1.gguf
    if [ ! -f "$dense" ]; then
        stash
        cat "$work/parts/part00" "$work/parts/part01" > "$dense"
    fi
    sha256sum "$dense" | tee "$out/dense.sha256"
    [ -f "$moe" ] || run_bin upcycle_moe --input "$dense" --output "$moe" --experts 4 --experts-used 1 --router random
    log "moe_offload on the test MoE, --cpu-moe with --compare"
    run_bin moe_offload --model "$moe" --cpu-moe --runs 3 --compare --n-predict 48 --json "$out/test-moe.json" -v > "$out/test-moe.txt" 2>&1
    log "placement and equivalence tests on the GPU"
    LLAMA_TEST_MODEL=$dense LLAMA_TEST_MOE_MODEL=$moe \
        run_bin test_placement --include-ignored --test-threads 1 > "$out/test-placement.txt" 2>&1 \
        || echo "placement test FAILED" | tee -a "$out/steps.log"
    LLAMA_TEST_MODEL=$dense LLAMA_TEST_MOE_MODEL=$moe run_bin test_moe_equivalence > "$out/test-equivalence.txt" 2>&1 || echo "equivalence test FAILED" | tee -a "$out/steps.log"
    tail -n 3 "$out/test-placement.txt" "$out/test-equivalence.txt"
}

synth() { # preset file
    [ -f "$2" ] && return
    log "writing $1"
    /usr/bin/time -v "$bin/synth_moe" --preset "$1" --output "$2" > "$out/synth-$1.txt" 2>&1
    # The kernel writes the model's dirty pages (13-17 GB) back while the next step runs: in the
    # sixth run the calibration that followed a write decoded 13-16% slower than the same rows
    # minutes later.
    local t0=$SECONDS
    sync
    echo "sync after writing $1: $((SECONDS - t0)) s" | tee -a "$out/steps.log"
}

demo_gptoss() {
    local model=$work/models/gpt-oss-20b.gguf
    synth gpt-oss-20b "$model"
    log "moe_offload on GPT-OSS-20B shapes, --cpu-moe --compare"
    run_bin moe_offload --model "$model" --cpu-moe --compare --runs 3 --n-predict 64 --no-sha256 --json "$out/demo-gptoss.json" -v > "$out/demo-gptoss.txt" 2>&1
}

# Out-of-memory behaviour and placement on the GPU with synthetic models.
gpu_checks() {
    local big=$work/models/gpt-oss-20b.gguf small=$work/models/qwen3-2l.gguf
    synth gpt-oss-20b "$big"
    log "GPU out of memory: context and model"
    LLAMA_OOM_MODEL=$big run_bin test_gpu_oom --ignored --nocapture > "$out/test-gpu-oom.txt" 2>&1 || echo "gpu_oom test FAILED" | tee -a "$out/steps.log"
    [ -f "$small" ] || "$bin/synth_moe" --preset qwen3-30b-a3b --layers 2 --output "$small" > /dev/null
    log "placement tests with a 2-layer Qwen3-30B-A3B-shaped model"
    LLAMA_TEST_MOE_MODEL=$small run_bin test_placement --include-ignored --test-threads 1 \
        > "$out/test-placement-qwen3.txt" 2>&1 \
        || echo "placement test FAILED" | tee -a "$out/steps.log"
    tail -n 4 "$out/test-gpu-oom.txt" "$out/test-placement-qwen3.txt"
}

bench() { # preset configs...
    local preset=$1; shift
    local model=$work/models/$preset.gguf
    synth "$preset" "$model"
    local args=()
    for c in "$@"; do args+=(--config "$c"); done
    log "bench $preset: $*"
    RUST_LOG=info run_bin bench_moe --model "$model" --runs "${RUNS:-3}" --json "$out/bench-$preset.json" "${args[@]}" > "$out/bench-$preset.txt" 2> "$out/bench-$preset.err" || echo "bench $preset FAILED" | tee -a "$out/steps.log"
    grep -E "^##|device|rust|Rust/C|^  c " "$out/bench-$preset.txt" || true
    # The disk (64 GiB) holds one large model at a time.
    rm -f "$model"
}

for step in "$@"; do
    case $step in
        setup) setup ;;
        bandwidth) bandwidth ;;
        stash) stash ;;
        test-moe) test_moe ;;
        demo-gptoss) demo_gptoss ;;
        bench-gptoss) bench gpt-oss-20b gpu:ngl=999 cpu-moe:moe=all cpu-moe-mmap:moe=all,mmap=1 cpu-moe-4t:moe=all,threads=4 \
            cpu-moe-p2048:moe=all,prompt=2048 cpu-moe-noop:moe=all,op_offload=0 ncm12:moe=12 cpu-moe-ub512:moe=all,ubatch=512 ;;
        gpu-checks) gpu_checks ;;
        bench-gptoss-long) RUNS=8 bench gpt-oss-20b gpu:ngl=999 cpu-moe:moe=all ;;
        # The tables of docs/BENCHMARKS.md: Rust and C loops, 5 runs (3 where a run takes
        # over 10 s), configs grouped by model params so each model loads once.
        table-gptoss) RUNS=5 bench gpt-oss-20b gpu:ngl=999 cpu-moe:moe=all cpu-moe-p2048:moe=all,prompt=2048 \
            cpu-moe-ub512:moe=all,ubatch=512 example-p512:moe=all,example=1 example-p2048:moe=all,example=1,prompt=2048 \
            cpu-moe-4t:moe=all,threads=4,runs=3 cpu-moe-mmap:moe=all,mmap=1,runs=3 ncm12:moe=12 ;;
        # Rust/C per row with more runs (the loops now take turns going first).
        ratio-gptoss) RUNS=10 bench gpt-oss-20b gpu:ngl=999 cpu-moe:moe=all example-p512:moe=all,example=1 \
            example-p2048:moe=all,example=1,prompt=2048 ncm12:moe=12 ;;
        # The other rows whose 5-run Rust/C paired median fell below 0.99, with 10 runs.
        ratio-rest) RUNS=10 bench gpt-oss-20b cpu-moe-ub512:moe=all,ubatch=512 cpu-moe-4t:moe=all,threads=4,runs=8
            RUNS=10 bench deepseek-moe-16b gpu:ngl=999 ;;
        # After ratio-rest, 4-thread decode was the one row below 0.99: ten more pairs.
        ratio-4t) RUNS=10 bench gpt-oss-20b cpu-moe-4t:moe=all,threads=4 ;;
        # The same example defaults with every expert on the GPU: the compute part of
        # the --cpu-moe prompt time, without the expert copies.
        floor-gptoss) RUNS=5 bench gpt-oss-20b gpu-example-p512:ngl=999,example=1 \
            gpu-example-p2048:ngl=999,example=1,prompt=2048 example-p2048:moe=all,example=1,prompt=2048 ;;
        table-others) RUNS=5 bench phi-3.5-moe gpu:ngl=999 cpu-moe:moe=all,runs=3
            RUNS=5 bench deepseek-moe-16b gpu:ngl=999 cpu-moe:moe=all
            RUNS=5 bench qwen3-30b-a3b gpu:ngl=999 cpu-moe:moe=all ;;
        bench-phi) bench phi-3.5-moe gpu:ngl=999 cpu-moe:moe=all ;;
        bench-deepseek) bench deepseek-moe-16b gpu:ngl=999 cpu-moe:moe=all ;;
        bench-qwen3) bench qwen3-30b-a3b gpu:ngl=999 cpu-moe:moe=all ;;
        clean-models) rm -f "$work"/models/*.gguf ;;
        h2d) h2d ;;
        # Flash attention, threads and prompt length with the OpenMP build.
        sweep-a) sweep omp SWEEP=omp -- base:moe=all fa-on:moe=all,fa=on fa-off:moe=all,fa=off t15:moe=all,threads=15 \
            t12:moe=all,threads=12 t8:moe=all,threads=8 p2048:moe=all,prompt=2048 p2048-fa-on:moe=all,prompt=2048,fa=on ;;
        # OpenMP placement, ggml's thread pool, pageable host memory, all on the GPU.
        # n_outputs_max and the SWA cache at ubatch 2048 (VRAM), threads 15 vs 16.
        sweep-c) RUNS=5 sweep outputs SWEEP=outputs -- example-p2048:moe=all,example=1,prompt=2048 \
            outputs1-swafull:moe=all,example=1,swa_full=1,prompt=2048 example-t15:moe=all,example=1,threads=15 ;;
        sweep-b) sweep omp-active OMP_WAIT_POLICY=active OMP_PROC_BIND=close OMP_PLACES=cores -- base:moe=all t15:moe=all,threads=15
            sweep noomp LD_LIBRARY_PATH="$libs/noomp:$libs" -- pool-context:moe=all pool-graph:moe=all,pool=graph
            sweep pageable GGML_CUDA_NO_PINNED=1 -- base:moe=all
            sweep gpu SWEEP=gpu -- gpu:ngl=999 ;;
        # The 2,048-token prompt times cluster ~15 ms apart, all-GPU as well: is it the host
        # (spinning CPU threads crowding out the CUDA driver's)? Measured: no (docs/BENCHMARKS.md).
        sweep-d) RUNS=10 sweep p2048 SWEEP=p2048 -- example-p2048:moe=all,example=1,prompt=2048 \
                example-p2048-t15:moe=all,example=1,prompt=2048,threads=15
            RUNS=10 sweep p2048-passive OMP_WAIT_POLICY=passive -- example-p2048:moe=all,example=1,prompt=2048
            RUNS=10 sweep p2048-noomp LD_LIBRARY_PATH="$libs/noomp:$libs" -- example-p2048:moe=all,example=1,prompt=2048 ;;
        plan) plan ;;
        host-decode-a) host_decode_a ;;
        host-decode-b) host_decode_b ;;
        profile) profile ;;
        pack-libs) pack_libs ;;
        expert-gemv) expert_gemv ;;
        plan-trades) plan_trades ;;
        calib) calib ;;
        planner-test) planner_test ;;
        moe-calibrate) moe_calibrate ;;
        gap) gap ;;
        decode-gap) decode_gap ;;
        order) order ;;
        cpu-builds) cpu_builds ;;
        tilecfg) tilecfg ;;
        amx-check) amx_check ;;
        cpu-decode) for v in native native-no-amx portable; do
                log "cpu-$v: $(loaded "$libs/cpu-$v" "$libs")"
                RUNS=5 sweep "cpu-$v" LD_LIBRARY_PATH="$libs/cpu-$v:$libs" -- "cpu-moe:moe=all,example=1"
            done ;;
        collect) tar -C "$out" -czf "$ret/results.tgz" . && ls -la "$ret" ;;
        *) echo "unknown step $step" >&2; exit 2 ;;
    esac
done
