#!/usr/bin/env bash
# test-upstream: the patch series in upstream/ against llama-cpp-rs bed81ad.
#
#  1. Takes upstream from the bundle in ../shared/upstream (UPSTREAM_BUNDLE overrides the
#     path), or clones UPSTREAM_GIT_URL when that is set; with neither it skips, exit 0.
#  2. Fills the llama-cpp-sys-2/llama.cpp submodule from bootstrap's b10200 tree.
#  3. Before: bed81ad with the series' new test files copied in. Every reproducer test must
#     FAIL there, and the use-after-free test must show invalid reads under valgrind.
#  4. After: `git am upstream/*.patch`; `cargo test --features sampler` on each commit but the
#     last, alone; then, on the last, upstream's CI commands
#     (.github/workflows/llama-cpp-rs-check.yml): cargo clippy, cargo fmt --check,
#     cargo test --features sampler, cargo publish --workspace --verbose --dry-run; and the
#     new tests under valgrind, which must be clean.
#
# Clippy: bed81ad's own files already carry clippy-pedantic warnings, so `cargo clippy` is
# judged by its diagnostics, not by silence: the (file, lint, message) triples of the patched
# tree are compared with those of unpatched bed81ad (counted, line numbers ignored, since the
# patches move lines) and only NEW ones fail the lane. Errors always fail.
# Fmt: likewise, `cargo fmt --check` already fails on bed81ad (three files the series does not
# touch); the lane fails when a file the series touches, or any file not listed on bed81ad,
# is unformatted.
#
# Every cargo command runs at the workspace root, as upstream's CI does: `-p llama-cpp-2`
# would unify other features (no `mtmd` from examples/mtmd) and rebuild llama.cpp.
#
# Publish: `cargo publish --workspace` verifies llama-cpp-2's package against a registry overlay
# that holds the freshly packaged llama-cpp-sys-2 0.1.154 *beside* crates.io, and the resolver
# takes the newest version matching `llama-cpp-sys-2 = "0.1.154"` (^0.1.154). On 2026-08-04,
# when bed81ad was tested, 0.1.154 was the newest and the verify build used the workspace's own
# sys crate. Since then crates.io has newer ones (0.1.161 in 2026-12), so the verify build of
# unpatched bed81ad, too, compiles llama-cpp-2 against crates.io's llama-cpp-sys-2 0.1.161 and
# fails: llama_rs_fit_params, llama_sampler_init_dry and llama_sampler_init_penalties take other
# arguments there (upstream/PR.md, Evidence). The series' `llama_rs_regex_search` is in no
# crates.io release at all. The lane runs upstream's command with one addition,
# `--config patch.crates-io.llama-cpp-sys-2.path=...` naming the workspace's llama-cpp-sys-2,
# which restores what upstream's CI resolved then: both packages are still packaged and
# verified (llama-cpp-sys-2 from its package, so a file missing from `include` still fails),
# and llama-cpp-2's verify build links the series' sys crate.
#
# Everything is built under target/upstream/ (sources, cargo target dir, ccache; 2.6 GB): on 2
# cores the lane takes ~16 min cold (945 s measured) and ~5 min with that folder kept (282 s,
# every compile from ccache), so cache it in CI. Cold, llama.cpp is compiled in full twice: for
# the workspace (cargo test), and for the packaged llama-cpp-sys-2 (its sources live under
# target/package and it builds without OpenMP, so no cold cache serves it). Every other build of it
# (clippy's own OUT_DIR, llama-cpp-2's verify build, the build-script reruns after `git am`)
# compiles the same files with the same flags: ccache serves those, for cmake's compiles
# (CMAKE_*_COMPILER_LAUNCHER) and for the cc crate's (mtmd, the wrappers: CC/CXX="ccache ..").
# Each step's duration is written to target/upstream/logs/timings.tsv and printed at the end.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

readonly BASE=bed81ad4ab1a6c904b11d425608e50f976d8ea62
readonly BUNDLE=${UPSTREAM_BUNDLE:-$repo/../shared/upstream/llama-cpp-rs-bed81ad.bundle}
readonly LLAMA_TREE=$repo/llama-cpp-sys/llama.cpp
readonly WORK=$repo/target/upstream
readonly SRC=$WORK/llama-cpp-rs
readonly LOGS=$WORK/logs
readonly PATCHES=$repo/upstream

# Tests of the series that use only API bed81ad has, each with how bed81ad fails it.
readonly REPRODUCERS=(
    second_cpu_buft_override_is_appended
    cpu_moe_override_after_another_override_keeps_both
    cpu_buft_override_pattern_may_be_freed_before_load
    second_kv_override_is_appended
    fit_params_refuses_empty_margins
    fit_params_keeps_earlier_overrides_and_refuses
)
readonly UAF_TEST=cpu_buft_override_pattern_may_be_freed_before_load
readonly NEW_TEST_FILES=(llama-cpp-2/tests/tensor_overrides.rs llama-cpp-2/tests/common/mod.rs)

log() { printf '[test-upstream] %s\n' "$*"; }
die() { printf '[test-upstream] FAILED: %s\n' "$*" >&2; exit 1; }
started=$(date +%s)
step_name="" step_started=$started
step() { # $1: the name of the step that starts now (logged); ends the previous one
    local now
    now=$(date +%s)
    [ -z "$step_name" ] || printf '%s\t%d\n' "$step_name" $((now - step_started)) >> "$LOGS/timings.tsv"
    step_name=$1 step_started=$now
    [ "$1" = end ] || log "$1"
}
# "N passed, N failed, N ignored" over the `test result:` lines of cargo test's log $1.
test_totals() {
    grep -E "^test result" "$1" | awk '{ p += $4; f += $6; i += $8 }
        END { printf "%d passed, %d failed, %d ignored", p, f, i }'
}

# Skip first, before any tool check: `make test` runs this lane on machines without the bundle.
if [ ! -d "$SRC/.git" ] && [ ! -f "$BUNDLE" ] && [ -z "${UPSTREAM_GIT_URL:-}" ]; then
    log "SKIPPED: no upstream bundle at $BUNDLE and UPSTREAM_GIT_URL is not set"
    exit 0
fi

# --- tools ------------------------------------------------------------------
command -v valgrind >/dev/null || die "valgrind is missing: run scripts/bootstrap.sh"
# bindgen in upstream's build script needs libclang itself (libclang-cpp is not enough).
if ! ls /usr/lib/llvm-*/lib/libclang.so* /usr/lib/*/libclang-*.so* >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        log "installing libclang-dev for upstream's bindgen"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libclang-dev >/dev/null
    else
        die "libclang is missing: apt-get install libclang-dev (upstream's build.rs runs bindgen)"
    fi
fi
if ! command -v ccache >/dev/null && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ccache >/dev/null 2>&1 || true
fi
if command -v ccache >/dev/null; then
    # Upstream's build script passes CMAKE_* variables to cmake.
    export CMAKE_C_COMPILER_LAUNCHER=ccache CMAKE_CXX_COMPILER_LAUNCHER=ccache
    # The cc crate (mtmd, wrapper_*.cpp): it recompiles every file whenever the build script
    # reruns, and runs inside each OUT_DIR. cmake is still given the bare compiler.
    export CC="ccache ${CC:-cc}" CXX="ccache ${CXX:-c++}"
    # Paths under $WORK become relative to the compiler's working directory, and that is not
    # hashed: builds in different OUT_DIRs (same depth) then share their objects.
    export CCACHE_DIR=$WORK/ccache CCACHE_NOHASHDIR=true CCACHE_BASEDIR=$WORK
    ccache --zero-stats > /dev/null
fi
export CARGO_TARGET_DIR=$WORK/target
export CARGO_TERM_COLOR=never

[ -f "$LLAMA_TREE/include/llama.h" ] \
    || die "no llama.cpp tree at $LLAMA_TREE: run scripts/bootstrap.sh first"
ls "$PATCHES"/*.patch >/dev/null 2>&1 || die "no patches in $PATCHES"

# --- 1. upstream sources ----------------------------------------------------
mkdir -p "$WORK" "$LOGS"
rm -f "$LOGS/timings.tsv" "$LOGS"/commit-*.log
step "clone"
if [ ! -d "$SRC/.git" ]; then
    if [ -f "$BUNDLE" ]; then
        log "cloning upstream from $BUNDLE"
        git -c init.defaultBranch=main clone -q --no-checkout "$BUNDLE" "$SRC"
    else
        log "cloning upstream from $UPSTREAM_GIT_URL"
        git -c init.defaultBranch=main clone -q --no-checkout "$UPSTREAM_GIT_URL" "$SRC"
    fi
fi
git -C "$SRC" cat-file -e "$BASE^{commit}" 2>/dev/null || die "upstream clone lacks $BASE"
git_src() { git -C "$SRC" -c user.name=test-upstream -c user.email=test-upstream@localhost "$@"; }

# --- 2. the llama.cpp submodule ---------------------------------------------
checkout() { # $1: commit
    git_src checkout -q -f --detach "$1"
    git_src clean -qfd -e llama-cpp-sys-2/llama.cpp
}

step "fill llama.cpp"
checkout "$BASE"
# The bundle has the gitlink only; bootstrap's tree is b10200, the commit it names. It gets a
# git repository of its own with one commit: as a plain folder its files count as untracked
# in upstream's repository and `cargo publish` refuses the dirty tree.
sub=$SRC/llama-cpp-sys-2/llama.cpp
if ! cmp -s "$LLAMA_TREE/include/llama.h" "$sub/include/llama.h" \
    || ! cmp -s "$LLAMA_TREE/ggml/include/ggml.h" "$sub/ggml/include/ggml.h" \
    || [ ! -d "$sub/.git" ]; then
    log "filling llama-cpp-sys-2/llama.cpp from $LLAMA_TREE"
    rm -rf "$sub"
    cp -a "$LLAMA_TREE" "$sub"
    git -C "$sub" -c init.defaultBranch=main init -q
    git -C "$sub" add -A
    git -C "$sub" -c user.name=test-upstream -c user.email=test-upstream@localhost \
        commit -q -m "llama.cpp b10200 from scripts/bootstrap.sh"
fi

test_binary() { # prints the path of llama-cpp-2's tensor_overrides test binary
    (cd "$SRC" && cargo test --features sampler --test tensor_overrides --no-run \
        --message-format=json 2>/dev/null) | python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") \
            and m["target"]["name"] == "tensor_overrides":
        print(m["executable"])'
}

run_valgrind() { # $1: binary, $2: test name, $3: log file
    valgrind --tool=memcheck --error-exitcode=99 --errors-for-leak-kinds=none \
        --track-origins=no --num-callers=30 \
        "$1" --exact "$2" --test-threads 1 > "$3" 2>&1
}

summary() { grep -m1 'ERROR SUMMARY' "$1" | sed 's/^==[0-9]*== //'; }

unformatted() { # $1: output file; the files `cargo fmt --check` would change, sorted
    (cd "$SRC" && cargo fmt --check -- -l 2>/dev/null || true) | sed "s|^$SRC/||" | sort -u > "$1"
}

clippy_diagnostics() { # $1: output file; (file, lint, message) per line, sorted
    (cd "$SRC" && cargo clippy --message-format=json 2> "$1.stderr") | python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") != "compiler-message":
        continue
    d = m["message"]
    spans = [s for s in d["spans"] if s["is_primary"]] or d["spans"]
    file = spans[0]["file_name"] if spans else "-"
    code = (d.get("code") or {}).get("code") or "-"
    print("\t".join([d["level"], file, code, d["message"]]))' | sort > "$1"
}

# --- 3. before: bed81ad fails the new tests ---------------------------------
step "before: build (cargo test --no-run)"
checkout "$BASE"
series=$WORK/series
rm -rf "$series" && mkdir -p "$series"
# The series' final test files, taken from the patches applied on a scratch branch.
git_src checkout -q -B test-upstream-scratch "$BASE"
git_src am -q "$PATCHES"/*.patch \
    || { git_src am --abort; die "the series does not apply on bed81ad"; }
for f in "${NEW_TEST_FILES[@]}"; do
    mkdir -p "$series/$(dirname "$f")"
    git_src show "HEAD:$f" > "$series/$f"
done
checkout "$BASE"
cp -r "$series"/. "$SRC"/

log "before: building bed81ad with the new tests"
(cd "$SRC" && cargo test --features sampler --test tensor_overrides --no-run) \
    > "$LOGS/before-build.log" 2>&1 || { tail -n 30 "$LOGS/before-build.log"; die "bed81ad build"; }
before_bin=$(test_binary)
step "before: reproducers, valgrind"
for t in "${REPRODUCERS[@]}"; do
    rc=0
    "$before_bin" --exact "$t" --test-threads 1 > "$LOGS/before-$t.log" 2>&1 || rc=$?
    [ "$rc" -ne 0 ] || die "$t passes on bed81ad: it does not reproduce anything"
    if [ "$rc" -gt 128 ]; then
        how="killed by signal $((rc - 128))"
    else
        # The panic message is the line after "panicked at".
        how=$(grep -m1 -A1 "panicked at" "$LOGS/before-$t.log" | sed -n 2p | cut -c1-100)
    fi
    log "before: $t FAILS as expected: $how"
done
if run_valgrind "$before_bin" "$UAF_TEST" "$LOGS/before-valgrind.log"; then
    die "valgrind finds no error in $UAF_TEST on bed81ad"
fi
grep -q "Invalid read" "$LOGS/before-valgrind.log" \
    || die "$UAF_TEST fails on bed81ad under valgrind, but without an invalid read"
log "before: valgrind: $(summary "$LOGS/before-valgrind.log")"

step "before: cargo clippy (the baseline of existing warnings), cargo fmt --check"
git_src checkout -q -f --detach "$BASE" && git_src clean -qfd -e llama-cpp-sys-2/llama.cpp
clippy_diagnostics "$LOGS/clippy-before.txt" \
    || { tail -n 30 "$LOGS/clippy-before.txt.stderr"; die "cargo clippy on bed81ad"; }
unformatted "$LOGS/fmt-before.txt"
log "before: cargo fmt --check lists $(wc -l < "$LOGS/fmt-before.txt") unformatted files"

# --- 4. after: the series, upstream's CI, the new tests ---------------------
step "after: git am"
git_src checkout -q -B test-upstream "$BASE"
git_src am -q "$PATCHES"/*.patch
log "after: applied $(git_src rev-list --count "$BASE"..HEAD) commits from upstream/"

# Every commit builds and passes its tests alone (bisectable), not only the last: upstream's
# `cargo test --features sampler` on each commit before the last, which the steps below test.
# ~35 s a commit: the build scripts rerun only where the sys crate changes, from ccache.
step "after: cargo test --features sampler on each earlier commit"
for commit in $(git_src rev-list --reverse "$BASE"..HEAD~1); do
    git_src checkout -q -f --detach "$commit"
    subject=$(git_src log -1 --format=%s "$commit")
    (cd "$SRC" && cargo test --features sampler) > "$LOGS/commit-$commit.log" 2>&1 \
        || { grep -E "^test .*FAILED|panicked|^error" "$LOGS/commit-$commit.log" | head -n 30
             die "commit '$subject' alone: cargo test --features sampler"; }
    log "after: commit alone: $subject: $(test_totals "$LOGS/commit-$commit.log")"
done
git_src checkout -q -f test-upstream

step "after: cargo clippy"
clippy_diagnostics "$LOGS/clippy-after.txt" \
    || { tail -n 30 "$LOGS/clippy-after.txt.stderr"; die "cargo clippy"; }
grep -q "^error" "$LOGS/clippy-after.txt" && die "cargo clippy reports errors"
new=$(comm -13 "$LOGS/clippy-before.txt" "$LOGS/clippy-after.txt")
if [ -n "$new" ]; then
    printf '%s\n' "$new"
    die "cargo clippy: the diagnostics above are new (not on bed81ad)"
fi
log "after: cargo clippy: $(wc -l < "$LOGS/clippy-after.txt") diagnostics, all already on bed81ad"

step "after: cargo fmt --check"
unformatted "$LOGS/fmt-after.txt"
git_src diff --name-only "$BASE"..HEAD -- '*.rs' | sort > "$LOGS/touched.txt"
bad=$( (comm -13 "$LOGS/fmt-before.txt" "$LOGS/fmt-after.txt"
        comm -12 "$LOGS/touched.txt" "$LOGS/fmt-after.txt") | sort -u)
[ -z "$bad" ] || { printf '%s\n' "$bad"; die "cargo fmt --check: the files above are unformatted"; }
log "after: cargo fmt --check: every file the series touches is formatted" \
    "($(wc -l < "$LOGS/fmt-after.txt") untouched bed81ad files are not)"

step "after: cargo test --features sampler"
(cd "$SRC" && cargo test --features sampler) > "$LOGS/after-test.log" 2>&1 \
    || { grep -E "^test .*FAILED|panicked|error" "$LOGS/after-test.log" | head -n 30
         die "cargo test"; }
log "after: cargo test: $(test_totals "$LOGS/after-test.log")"
for t in "${REPRODUCERS[@]}"; do
    grep -q "^test $t ... ok" "$LOGS/after-test.log" || die "$t did not pass after the series"
done
log "after: the ${#REPRODUCERS[@]} reproducers pass"

after_bin=$(test_binary)
step "after: valgrind"
run_valgrind "$after_bin" "$UAF_TEST" "$LOGS/after-valgrind.log" \
    || { tail -n 40 "$LOGS/after-valgrind.log"; die "valgrind reports errors after the series"; }
log "after: valgrind: $(summary "$LOGS/after-valgrind.log")"

# Upstream's command, with llama-cpp-2's verify build pinned to the workspace's
# llama-cpp-sys-2 instead of the newest crates.io release (see the top of this file). The
# `patch` is unused by the workspace itself, which already takes the sys crate by path.
step "after: cargo publish --workspace --verbose --dry-run (llama-cpp-sys-2 patched to the workspace's)"
sys_patch="patch.crates-io.llama-cpp-sys-2.path=\"$SRC/llama-cpp-sys-2\""
(cd "$SRC" && RUST_BACKTRACE=1 cargo publish --workspace --verbose --dry-run --config "$sys_patch") \
    > "$LOGS/after-publish.log" 2>&1 \
    || { tail -n 30 "$LOGS/after-publish.log"; die "cargo publish --dry-run"; }
# The verify builds must have compiled the workspace's sys crate, never a crates.io one.
if grep -E "Compiling llama-cpp-sys-2 v" "$LOGS/after-publish.log" | grep -v "($SRC/" \
        | grep -v "($CARGO_TARGET_DIR/package/"; then
    die "cargo publish --dry-run built a llama-cpp-sys-2 that is not the workspace's"
fi
log "after: publish dry run: $(grep -c 'Packaged' "$LOGS/after-publish.log") packages packaged and verified"
step "end"

log "green in $(( $(date +%s) - started )) s; logs in ${LOGS#"$repo"/}"
awk -F '\t' '{ printf "[test-upstream]   %5d s  %s\n", $2, $1 }' "$LOGS/timings.tsv"
if command -v ccache > /dev/null; then
    log "ccache: $(ccache --print-stats 2> /dev/null | awk -F '\t' '$1 == "direct_cache_hit" || $1 == "preprocessed_cache_hit" { h += $2 }
        $1 == "cache_miss" { m = $2 } END { printf "%d hits, %d misses", h, m }')"
fi
