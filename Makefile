# The two set-up commands of the README:
#   make demo   bootstrap, build, and run the main job on the default model
#   make test   bootstrap, build, and run every test lane (what CI runs)
# Both install what they need (apt packages when root, the pinned llama.cpp
# sources, the test models) and are cheap to rerun.

CARGO ?= cargo
# Profile flag for cargo; `make demo` uses --release.
PROFILE ?=
DENSE_MODEL := models/SmolLM2-135M-Instruct.Q4_1.gguf
MOE_MODEL := models/smollm2-moe-e4k1.gguf
# In a recipe: the newest llama.cpp build that llama-cpp-sys left under target/debug holding $(1)
# (older ones may predate the LLAMA_BUILD_COMMIT that LLAMA_CPP_LIB_DIR's version check reads).
built_lib_dir = $$(ls -td $(CURDIR)/target/debug/build/llama-cpp-moe-sys-*/out/lib 2>/dev/null \
	| while read d; do ls $$d/$(1) > /dev/null 2>&1 && echo $$d; done | head -n 1)

.PHONY: bootstrap models demo test test-fmt test-scripts test-static test-native test-lint test-bindings test-dynamic test-lib-dir test-docs test-downstream test-dropin memcheck test-upstream bindings

bootstrap:
	scripts/bootstrap.sh --no-model

$(DENSE_MODEL):
	scripts/bootstrap.sh

# The test MoE: SmolLM2 upcycled to 4 identical experts, top-1 routing.
$(MOE_MODEL): $(DENSE_MODEL)
	$(CARGO) run $(PROFILE) --example upcycle_moe -- --input $(DENSE_MODEL) --output $@ --experts 4 --experts-used 1 --router random

models: bootstrap $(DENSE_MODEL) $(MOE_MODEL)

demo: PROFILE = --release
demo: models
	$(CARGO) run --release --example moe_offload -- --cpu-moe --runs 3 --compare --n-predict 48

# test-upstream runs last: it is the longest lane (~16 min cold on 2 cores, mostly two llama.cpp
# builds) and needs nothing from the others, so a failure there reports after every other lane.
test: models test-fmt test-scripts test-static test-native test-lint test-bindings test-dynamic test-lib-dir test-docs test-downstream test-dropin memcheck test-upstream

# Default build: vendored llama.cpp, static, CPU.
test-static: models
	$(CARGO) test --workspace

# The `native` feature (-march=native, AMX code generation off): the build that died with SIGILL
# on AMX CPUs. Every CPU weight path, and MoE = dense, with this machine's instructions.
test-native: models
	CARGO_TARGET_DIR=target/native $(CARGO) test --features native --test cpu_weight_paths --test moe_equivalence

# rustfmt.toml's style, checked first: it takes seconds. fuzz/ is its own workspace.
test-fmt:
	@if ! $(CARGO) fmt --version > /dev/null 2>&1; then \
		echo "test-fmt: skipped, rustfmt is not installed (rustup component add rustfmt)"; exit 0; fi; \
	$(CARGO) fmt --all --check && $(CARGO) fmt --all --check --manifest-path fuzz/Cargo.toml

# The GPU machine's scripts run only there, a few times a week: their syntax is checked here, and
# paired.py reads a committed gap sweep back into its table.
test-scripts:
	for f in scripts/*.sh scripts/gpu/*.sh .ci/run; do bash -n "$$f" || exit 1; done
	python3 -c 'import ast, sys; [ast.parse(open(f).read(), f) for f in sys.argv[1:]]' scripts/gpu/*.py
	python3 scripts/gpu/paired.py docs/measurements/planner/2026-12-03-paused/warm/sweep-gap-gpt-oss-20b-8.json \
		| grep '^| fit8-p512 | ncm8-p512 | 6 | 3,560.1 | 3,530.6 | 1.003 ' > /dev/null
	python3 scripts/gpu/paired.py scripts/gpu/testdata/paired-median-step.json \
		| grep -F '| 0.750 (0.500–1.000) | 1.050 (1.000–1.100) |' > /dev/null

# Clippy, warnings as errors; it also checks std APIs against rust-version (incompatible_msrv).
# Clippy's compiler wrapper gives the build script a fresh OUT_DIR, which would rebuild llama.cpp
# with cmake (2.5 min on 2 cores): it links test-static's build through LLAMA_CPP_LIB_DIR instead
# when there is one.
test-lint: bootstrap
	@if ! $(CARGO) clippy --version > /dev/null 2>&1; then \
		echo "test-lint: skipped, clippy is not installed (rustup component add clippy)"; exit 0; fi; \
	lib_dir="$(call built_lib_dir,libllama.*)"; \
	echo "LLAMA_CPP_LIB_DIR=$$lib_dir cargo clippy --workspace --all-targets -- -D warnings"; \
	LLAMA_CPP_LIB_DIR="$$lib_dir" $(CARGO) clippy --workspace --all-targets -- -D warnings

# The committed bindings equal what bindgen makes from the pinned headers.
test-bindings: bootstrap
	$(CARGO) test -p llama-cpp-moe-sys --features bindgen --lib

# Shared libraries with an rpath: the end-to-end tests run without LD_LIBRARY_PATH.
test-dynamic: models
	$(CARGO) test --features dynamic-link --test moe_equivalence --test placement

# Link the shared build of the previous lane through LLAMA_CPP_LIB_DIR (no cmake),
# in its own target dir so the lanes do not rebuild each other.
test-lib-dir: test-dynamic
	LLAMA_CPP_LIB_DIR="$(call built_lib_dir,libllama.so)" \
	CARGO_TARGET_DIR=target/lib-dir $(CARGO) test --test placement

# docs.rs: no native build under DOCS_RS, every public item documented, no broken links.
test-docs: bootstrap
	DOCS_RS=1 RUSTDOCFLAGS="-D warnings" CARGO_TARGET_DIR=target/docs $(CARGO) doc --no-deps -p llama-cpp-moe -p llama-cpp-moe-sys

# Package both crates and build a `cargo new` + `cargo add` program from the packages alone.
test-downstream: models
	scripts/downstream.sh

# Drop-in for llama-cpp-2: upstream llama-cpp-rs's examples/usage.rs and examples/simple/, from
# ../shared/upstream's bundle, build unchanged against llama-cpp renamed to llama-cpp-2, and
# simple generates text. Links test-static's llama.cpp build (no cmake): the static one, as the
# generated project has no build script to set an rpath. Skipped when the bundle is absent.
test-dropin: models
	LLAMA_CPP_LIB_DIR="$(call built_lib_dir,libllama.a)" scripts/dropin.sh

# The integration tests under valgrind memcheck (see README: suppressions).
memcheck: models
	scripts/memcheck.sh

# The llama-cpp-rs patch series in upstream/ against upstream's bed81ad: its new tests fail
# there; after `git am` each commit alone passes `cargo test --features sampler`, and the last
# passes upstream's CI commands (clippy, fmt --check, test --features sampler, publish --workspace
# --dry-run with llama-cpp-sys-2 patched to the workspace's) and the new tests (see
# scripts/upstream.sh; skips when the upstream bundle is absent). Builds under target/upstream
# (2.6 GB), with its own ccache there; step timings in target/upstream/logs/timings.tsv.
test-upstream: bootstrap
	scripts/upstream.sh

# Regenerate llama-cpp-sys/src/bindings.rs from the pinned headers.
bindings: bootstrap
	$(CARGO) build -p llama-cpp-moe-sys --features bindgen
	cp "$$(ls -td target/debug/build/llama-cpp-moe-sys-*/out/bindings.rs | head -n 1)" llama-cpp-sys/src/bindings.rs
