//! Tensor overrides: which tensors they select, where the weights end up,
//! and that the params stay sound whatever the caller does with them.

use llama_cpp::gguf::GgufFile;
use llama_cpp::offload::{n_cpu_moe_pattern, TensorRegex, MOE_EXPERTS_PATTERN};
use llama_cpp::{
    list_llama_ggml_backend_devices, BufferType, LlamaBackend, LlamaBackendDeviceType, LlamaModel,
    LlamaModelParams, LoadMode, OffloadPlan, PlannedTensor,
};
use llama_cpp_rs_moe::models::{moe_test_model, require};
use std::collections::BTreeSet;

/// llama.cpp's `--n-cpu-moe n` adds one pattern per layer:
/// `llm_ffn_exps_block_regex(i)` = `blk\.{i}` + LLM_FFN_EXPS_REGEX.
fn llama_cpp_n_cpu_moe_patterns(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!(r"blk\.{i}{MOE_EXPERTS_PATTERN}"))
        .collect()
}

fn matches_any(patterns: &[String], names: &[String]) -> BTreeSet<String> {
    let regexes: Vec<TensorRegex> = patterns
        .iter()
        .map(|p| TensorRegex::new(p).unwrap())
        .collect();
    names
        .iter()
        .filter(|name| regexes.iter().any(|re| re.is_match(name)))
        .cloned()
        .collect()
}

/// Tensor names from real MoE architectures: fused gate_up, chexps,
/// shared experts (must not match), biases, layers past 9.
fn tricky_names() -> Vec<String> {
    let mut names = Vec::new();
    for layer in [
        0, 1, 2, 9, 10, 11, 12, 19, 20, 23, 47, 99, 100, 101, 127, 511,
    ] {
        for suffix in [
            "ffn_up_exps.weight",
            "ffn_down_exps.weight",
            "ffn_gate_exps.weight",
            "ffn_gate_up_exps.weight",
            "ffn_up_chexps.weight",
            "ffn_down_chexps.weight",
            "ffn_gate_chexps.weight",
            "ffn_up_exps.bias",
            "ffn_gate_up_exps.bias",
            "ffn_down_exps.bias",
            "ffn_up_shexp.weight",
            "ffn_gate_shexp.weight",
            "ffn_down_shexp.weight",
            "ffn_gate_inp.weight",
            "ffn_gate_inp_shexp.weight",
            "ffn_up.weight",
            "attn_q.weight",
            "exp_probs_b.bias",
        ] {
            names.push(format!("blk.{layer}.{suffix}"));
        }
    }
    names.extend(["token_embd.weight", "output.weight", "output_norm.weight"].map(String::from));
    names
}

fn test_model_names() -> Vec<String> {
    GgufFile::open(require(moe_test_model()))
        .unwrap()
        .tensors
        .into_iter()
        .map(|t| t.name)
        .collect()
}

#[test]
fn patterns_select_exactly_what_llama_cpp_selects() {
    for names in [tricky_names(), test_model_names()] {
        let ours = matches_any(&[MOE_EXPERTS_PATTERN.to_owned()], &names);
        assert!(
            ours.iter().all(|n| n.contains("exps")),
            "--cpu-moe selects only expert tensors"
        );
        assert!(
            !ours.iter().any(|n| n.contains("shexp")),
            "shared experts stay where they are"
        );

        for n in [
            0, 1, 2, 9, 10, 11, 12, 15, 20, 24, 30, 35, 48, 100, 101, 128, 511, 512, 600,
        ] {
            let expected = matches_any(&llama_cpp_n_cpu_moe_patterns(n), &names);
            let got = match n_cpu_moe_pattern(n) {
                None => BTreeSet::new(),
                Some(pattern) => matches_any(&[pattern], &names),
            };
            assert_eq!(got, expected, "--n-cpu-moe {n}");
        }
    }
}

#[test]
fn overrides_keep_order_and_show_in_debug() {
    let params = LlamaModelParams::default()
        .with_n_cpu_moe(3)
        .with_tensor_override(r"attn_q", BufferType::Cpu)
        .unwrap()
        .with_cpu_moe_all();
    let patterns: Vec<&str> = params
        .tensor_overrides()
        .iter()
        .map(|o| o.pattern())
        .collect();
    assert_eq!(
        patterns,
        [
            r"blk\.([0-2])\.ffn_(up|down|gate|gate_up)_(ch|)exps",
            "attn_q",
            MOE_EXPERTS_PATTERN
        ]
    );
    let debug = format!("{params:?}");
    assert!(
        debug.contains("attn_q") && debug.contains("=CPU"),
        "{debug}"
    );
    assert!(
        LlamaModelParams::default()
            .with_n_cpu_moe(0)
            .tensor_overrides()
            .is_empty(),
        "n = 0 adds nothing"
    );
}

/// What a backend may add to a tensor's own bytes: alignment of its offset
/// (up to 128 bytes on CUDA) and, for quantized matrices on CUDA, a row
/// padded to 512 elements (MATRIX_ROW_PADDING: measured on the H200, 46.6 KB
/// over 212 tensors of the test MoE). The plan counts tensor bytes only.
fn backend_padding(tensor: &PlannedTensor) -> u64 {
    let row_padding = if tensor.ggml_type.block_size().unwrap_or(1) > 1 {
        tensor.ggml_type.row_bytes(512).unwrap_or(0)
    } else {
        0
    };
    256 + row_padding
}

fn assert_close(report: u64, plan: u64, tensors: &[&PlannedTensor], what: &str) {
    let slack = tensors.iter().map(|t| backend_padding(t)).sum::<u64>() + 4096;
    assert!(
        report.abs_diff(plan) <= slack,
        "{what}: llama.cpp allocated {report} bytes, the plan predicted {plan} (allowed ±{slack})"
    );
}

#[test]
fn plan_predicts_the_post_load_placement() {
    let backend = LlamaBackend::init().unwrap();
    let path = require(moe_test_model());
    let header = GgufFile::open(&path).unwrap();
    let expert_bytes: u64 = header
        .tensors
        .iter()
        .filter(|t| t.name.contains("_exps"))
        .map(|t| t.n_bytes())
        .sum();
    assert!(expert_bytes > 0);

    for params in [
        LlamaModelParams::default()
            .with_load_mode(LoadMode::Read)
            .with_n_gpu_layers(999)
            .with_cpu_moe_all(),
        LlamaModelParams::default()
            .with_load_mode(LoadMode::Read)
            .with_n_gpu_layers(999)
            .with_n_cpu_moe(10),
        LlamaModelParams::default()
            .with_load_mode(LoadMode::Read)
            .with_n_gpu_layers(999),
    ] {
        let plan = OffloadPlan::from_gguf(&header, &params).unwrap();
        if params.tensor_overrides().len() == 1
            && params.tensor_overrides()[0].pattern() == MOE_EXPERTS_PATTERN
        {
            assert_eq!(
                plan.overridden_bytes(),
                expert_bytes,
                "--cpu-moe plans every expert byte for the CPU"
            );
            assert!(plan
                .tensors
                .iter()
                .filter(|t| t.name.contains("_exps"))
                .all(|t| t.device == "CPU"));
        }
        let model = LlamaModel::load_from_file(&backend, &path, &params).unwrap();
        let report = model.memory_breakdown().unwrap();
        let planned = plan.bytes_by_device();
        let mut devices: BTreeSet<&str> = planned.keys().map(String::as_str).collect();
        devices.extend(report.iter().map(|b| b.device.as_str()));
        for device in devices {
            let got: u64 = report
                .iter()
                .filter(|b| b.device == device)
                .map(|b| b.model)
                .sum();
            let want = planned.get(device).copied().unwrap_or(0);
            let on_device: Vec<&PlannedTensor> =
                plan.tensors.iter().filter(|t| t.device == device).collect();
            assert_close(
                got,
                want,
                &on_device,
                &format!("{device} with {:?}", params.tensor_overrides()),
            );
        }
        // On a GPU build the experts really are in host memory.
        if params
            .tensor_overrides()
            .first()
            .is_some_and(|o| o.pattern() == MOE_EXPERTS_PATTERN)
        {
            let host: u64 = report
                .iter()
                .filter(|b| b.device == "CPU")
                .map(|b| b.model)
                .sum();
            assert!(
                host >= expert_bytes,
                "experts ({expert_bytes} bytes) must be in host buffers, found {host}"
            );
        }
    }
}

#[test]
#[ignore = "needs a GPU; scripts/gpu/run.sh runs it on the GPU machine (--include-ignored)"]
fn gpu_placement_when_a_gpu_exists() {
    let gpus: Vec<_> = list_llama_ggml_backend_devices()
        .into_iter()
        .filter(|d| d.device_type == LlamaBackendDeviceType::Gpu)
        .collect();
    // CPU builds check the plan in plan_predicts_the_post_load_placement.
    let gpu = gpus
        .first()
        .expect("a GPU device: run this test where llama.cpp sees one");
    let backend = LlamaBackend::init().unwrap();
    let path = require(moe_test_model());
    let params = LlamaModelParams::default()
        .with_load_mode(LoadMode::Read)
        .with_n_gpu_layers(999)
        .with_cpu_moe_all();
    let model = LlamaModel::load_from_file(&backend, &path, &params).unwrap();
    let report = model.memory_breakdown().unwrap();
    let on_gpu: u64 = report
        .iter()
        .filter(|b| b.device == gpu.name)
        .map(|b| b.model)
        .sum();
    // Expected from the loader's rules, independently of OffloadPlan: every
    // tensor but the experts and the input embeddings; plus, when the output
    // is tied to token_embd (no output.weight), a copy of token_embd.
    let header = GgufFile::open(&path).unwrap();
    let tied = header.tensor("output.weight").is_none();
    let expected: u64 = header
        .tensors
        .iter()
        .filter(|t| !t.name.contains("_exps") && (!t.name.starts_with("token_embd") || tied))
        .map(|t| t.n_bytes())
        .sum();
    let plan = OffloadPlan::from_gguf(&header, &params).unwrap();
    let all: Vec<&PlannedTensor> = plan.tensors.iter().collect();
    assert_close(on_gpu, expected, &all, "weights on the GPU with --cpu-moe");
}

#[test]
fn params_outlive_the_strings_they_were_built_from() {
    let backend = LlamaBackend::init().unwrap();
    let path = require(moe_test_model());
    let params = {
        let pattern = String::from(r"\.ffn_(up|down)_exps");
        let second = format!("{}{}", r"blk\.0\.", "ffn_gate_exps");
        let p = LlamaModelParams::default()
            .with_load_mode(LoadMode::Read)
            .with_tensor_override(&pattern, BufferType::Cpu)
            .unwrap()
            .with_tensor_override(&second, BufferType::Cpu)
            .unwrap();
        drop(pattern);
        drop(second);
        p
    };
    let cloned = params.clone();
    drop(params);
    // Move to another thread, load there, and keep the model after the
    // params are gone: llama.cpp holds the override pointers inside the model.
    let model = std::thread::spawn(move || {
        let backend = LlamaBackend::init().unwrap();
        let model = LlamaModel::load_from_file(&backend, &path, &cloned).unwrap();
        assert_eq!(cloned.tensor_overrides().len(), 2);
        drop(cloned);
        model
    })
    .join()
    .unwrap();
    assert!(model.n_expert() >= 2);
    let ctx = model.new_context(
        &backend,
        llama_cpp::LlamaContextParams::default().with_n_ctx(std::num::NonZeroU32::new(64)),
    );
    assert!(ctx.is_ok());
}
