//! Every CPU weight path this build has decodes the same greedy tokens:
//! plain CPU buffers, ggml's repacked buffers (`CPU_REPACK`) and, when
//! compiled in, AMX.
//!
//! ggml picks a weight's buffer at load time from the CPU it runs on, so the
//! path a build takes differs between machines of one kind: this test is
//! where a CPU-specific miscompile shows. (It did: with AMX compiled in,
//! gcc 12 dropped the tile configuration and the first decode died with
//! SIGILL on AMX CPUs; see llama-cpp-sys/build/cpu.rs.) It prints one line
//! saying which paths the run covered, visible in the CI log.
//!
//! The paths are compared on the same model with llama.cpp's extra buffer
//! types off (plain) and on. Three weight types: Q4_1 (AMX, no repack),
//! Q4_0 (AMX where compiled, else repack on AVX2) and a Q4_0 MoE, whose
//! experts (`mul_mat_id`, which AMX does not take) are repacked everywhere.

use llama_cpp::{
    sys, BufferMemory, LlamaBackend, LlamaContextParams, LlamaModel, LlamaModelParams, LlamaToken,
    LoadMode,
};
use llama_cpp_rs_moe::measure::greedy_outputs;
use llama_cpp_rs_moe::models::{dense_test_model, moe_test_model, require};
use std::collections::BTreeSet;
use std::ffi::CString;
use std::io::Write;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

const PROMPTS: [&str; 2] = ["The capital of France is", "def fibonacci(n):"];
const N_PREDICT: usize = 24;

/// Buffer types that hold weights in a layout of their own.
fn is_extra(buffer_type: &str) -> bool {
    !matches!(buffer_type, "CPU" | "CPU_Mapped")
}

fn generate(
    backend: &LlamaBackend,
    path: &Path,
    extra_buffer_types: bool,
) -> (Vec<Vec<LlamaToken>>, BTreeSet<String>) {
    let params = LlamaModelParams::default()
        .with_load_mode(LoadMode::Read)
        .with_n_gpu_layers(0)
        .with_extra_buffer_types(extra_buffer_types)
        // With a GPU present its pinned host buffers would take every CPU
        // weight before the extra buffer types get a chance.
        .with_host_buffers(false);
    let model = LlamaModel::load_from_file(backend, path, &params).expect("model loads");
    let used = model
        .memory_breakdown()
        .expect("memory breakdown")
        .into_iter()
        .filter(|buffer: &BufferMemory| buffer.model > 0 && is_extra(&buffer.buffer_type))
        .map(|buffer| buffer.buffer_type)
        .collect();
    let ctx_params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(128))
        .with_n_threads(2)
        .with_n_threads_batch(2)
        .with_op_offload(false);
    let mut ctx = model.new_context(backend, ctx_params).expect("context");
    let outputs = greedy_outputs(&mut ctx, &PROMPTS, N_PREDICT).unwrap();
    (outputs, used)
}

/// A Q4_0 copy of a test model, made once per target dir by llama.cpp's own
/// quantizer (the registries ship no Q4_0 model small enough).
fn q4_0_copy(source: &Path, name: &str) -> PathBuf {
    // LLAMA_TEST_TMPDIR for a test binary run on another machine (scripts/gpu).
    let dir = std::env::var_os("LLAMA_TEST_TMPDIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")), PathBuf::from);
    std::fs::create_dir_all(&dir).unwrap();
    let output = dir.join(name);
    if output.is_file() {
        return output;
    }
    let partial = output.with_extension("partial");
    let input_c = CString::new(source.to_str().unwrap()).unwrap();
    let partial_c = CString::new(partial.to_str().unwrap()).unwrap();
    // SAFETY: plain function returning a struct by value.
    let mut params = unsafe { sys::llama_model_quantize_default_params() };
    params.ftype = sys::LLAMA_FTYPE_MOSTLY_Q4_0;
    params.allow_requantize = true;
    params.nthread = 2;
    // SAFETY: both paths are NUL-terminated and outlive the call; `params`
    // is a valid struct whose pointer fields are the defaults' NULLs. The
    // quantizer catches its own exceptions and returns non-zero.
    let status =
        unsafe { sys::llama_model_quantize(input_c.as_ptr(), partial_c.as_ptr(), &params) };
    assert_eq!(
        status,
        0,
        "llama_model_quantize {} -> Q4_0 failed",
        source.display()
    );
    std::fs::rename(&partial, &output).unwrap();
    output
}

fn yes_no(value: bool) -> &'static str {
    if value {
        "yes"
    } else {
        "no"
    }
}

fn cpu_has_amx() -> bool {
    std::fs::read_to_string("/proc/cpuinfo")
        .is_ok_and(|info| info.split_whitespace().any(|flag| flag == "amx_tile"))
}

#[test]
fn every_cpu_weight_path_decodes_the_same_tokens() {
    let backend = LlamaBackend::init().unwrap();
    let dense = require(dense_test_model());
    let moe = require(moe_test_model());
    let models = [
        ("dense Q4_1", dense.clone()),
        ("dense Q4_0", q4_0_copy(&dense, "smollm2-q4_0.gguf")),
        ("MoE Q4_0", q4_0_copy(&moe, "smollm2-moe-e4k1-q4_0.gguf")),
    ];

    let mut covered = BTreeSet::new();
    for (name, path) in &models {
        let (plain, plain_buffers) = generate(&backend, path, false);
        assert!(
            plain_buffers.is_empty(),
            "{name}: extra buffer types off, yet weights in {plain_buffers:?}"
        );
        assert!(plain.iter().all(|tokens| tokens.len() == N_PREDICT));
        let (extra, used) = generate(&backend, path, true);
        for ((prompt, expected), got) in PROMPTS.iter().zip(&plain).zip(&extra) {
            let diverge = expected.iter().zip(got).position(|(a, b)| a != b);
            assert_eq!(got, expected, "{name}: with {used:?} the output for {prompt:?} differs from plain CPU buffers (first difference at {diverge:?})");
        }
        covered.extend(used);
    }

    // SAFETY: plain queries of compile-time and cpuid facts.
    let (amx_compiled, avx2) = unsafe {
        (
            sys::ggml_cpu_has_amx_int8() != 0,
            sys::ggml_cpu_has_avx2() != 0,
        )
    };
    let amx_flags = cpu_has_amx();
    let covered_list = if covered.is_empty() {
        "none".to_owned()
    } else {
        covered.iter().cloned().collect::<Vec<_>>().join(", ")
    };
    // Straight to stderr, past the test harness's capture: the CI log shows
    // what each machine covered.
    writeln!(
        std::io::stderr(),
        "CPU: AMX in flags {}, AMX compiled {}, extra buffer types used: {covered_list}",
        yes_no(amx_flags),
        yes_no(amx_compiled)
    )
    .unwrap();

    // The paths this CPU and build must have taken: a run that silently fell
    // back to plain buffers would compare plain with plain.
    if avx2 {
        assert!(
            covered.contains("CPU_REPACK"),
            "AVX2 CPU: the Q4_0 MoE experts must be repacked, got {covered:?}"
        );
    }
    if amx_compiled && amx_flags {
        assert!(
            covered.contains("AMX"),
            "AMX compiled and present: Q4_0/Q4_1 weights must use it, got {covered:?}"
        );
    }
    if !amx_compiled {
        assert!(
            !covered.contains("AMX"),
            "AMX buffers without AMX compiled: {covered:?}"
        );
    }
}
