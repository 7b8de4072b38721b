#!/usr/bin/env bash
# Runs integration tests under valgrind memcheck. Any error attributable to
# our code fails the run (--error-exitcode). Suppressions (scripts/valgrind.supp)
# cover llama.cpp/ggml internals only, each with its reason.
#
# valgrind cannot execute AVX-512: the default build (ggml's portable x86
# baseline, AVX2/FMA/F16C) is the one to check, and the static lane already
# built it in target/.
set -euo pipefail
cd "$(dirname "$0")/.."
tests=(--test placement --test bad_input --test thread_pool --test dropin_compat --test routing)
cargo test --no-run "${tests[@]}" 2>&1 | tail -n 2
binaries=$(cargo test --no-run "${tests[@]}" --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["target"]["name"] + "=" + m["executable"])')

# The slow generation tests would take tens of minutes under valgrind; the
# selection below still loads, overrides, decodes and frees every kind of object.
# (patterns_select is left out: it compiles hundreds of thousands of regexes.)
declare -A filters=(
    [placement]="overrides_keep_order params_outlive plan_predicts"
    [bad_input]="bad_parameters unloadable_files progress_callback n_cpu_moe_usize_max two_contexts"
    [thread_pool]="pool_lifecycle"
    # llama-cpp-2's Pin-taking overrides: the caller's strings are gone before the load.
    [dropin_compat]="pinned_"
    # The evaluation callback writes into the probe after the params that set it are gone.
    [routing]="the_context_keeps_the_probe_alive"
)
logs=${CARGO_TARGET_DIR:-target}/memcheck
mkdir -p "$logs"
status=0
for entry in $binaries; do
    name=${entry%%=*}; exe=${entry#*=}
    for filter in ${filters[$name]}; do
        echo "== valgrind: $name $filter"
        valgrind --tool=memcheck --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
            --show-leak-kinds=definite --track-origins=no --suppressions=scripts/valgrind.supp --num-callers=30 \
            "$exe" --test-threads 1 ${filter:+"$filter"} > "$logs/valgrind-$name-$filter.log" 2>&1 || status=$?
        grep -E "ERROR SUMMARY|definitely lost|test result" "$logs/valgrind-$name-$filter.log" || true
        [ $status -eq 0 ] || { echo "memcheck failed: see $logs/valgrind-$name-$filter.log"; exit $status; }
    done
done
echo "memcheck: no errors"
