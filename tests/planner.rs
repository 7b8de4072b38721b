//! The placement planner against real files: layouts of the test MoE and of
//! the synthetic presets, llama.cpp's dry-run accounting against a real load,
//! and (on a GPU) plans that fit their budget and predict the load's bytes.

use llama_cpp::planner::{Budget, DeviceBytes, ModelLayout, Planner, GIB};
use llama_cpp::{
    list_llama_ggml_backend_devices, LlamaBackend, LlamaBackendDeviceType, LlamaContextParams,
    LlamaModel, LlamaModelParams, LoadMode,
};
use llama_cpp_rs_moe::model_params::CpuMoe;
use llama_cpp_rs_moe::models::{moe_test_model, require};
use llama_cpp_rs_moe::planning::{calibration_placements, gpu_bytes, CalibrationPlacementError};
use llama_cpp_rs_moe::synth::{build, Preset, SynthOptions};
use std::collections::BTreeMap;
use std::num::NonZeroU32;

fn ctx_params() -> LlamaContextParams {
    LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(512))
        .with_n_batch(512)
        .with_n_ubatch(512)
        .with_n_threads(2)
        .with_n_threads_batch(2)
}

fn read_params() -> LlamaModelParams {
    LlamaModelParams::default()
        .with_load_mode(LoadMode::Read)
        .with_n_gpu_layers(999)
}

fn has_gpu() -> bool {
    list_llama_ggml_backend_devices()
        .iter()
        .any(|d| d.device_type == LlamaBackendDeviceType::Gpu)
}

/// Per device, what a context of a loaded model really allocated.
fn loaded_bytes(params: &LlamaModelParams, ctx: LlamaContextParams) -> BTreeMap<String, u64> {
    let backend = LlamaBackend::init().unwrap();
    let model = LlamaModel::load_from_file(&backend, require(moe_test_model()), params).unwrap();
    let ctx = model.new_context(&backend, ctx).unwrap();
    let mut out = BTreeMap::new();
    for b in ctx.memory_breakdown().unwrap() {
        *out.entry(b.device.clone()).or_insert(0) += b.total();
    }
    out
}

/// GPU bytes of `params` by llama.cpp's dry run, every GPU together.
fn gpu_total(planner: &Planner, params: &LlamaModelParams) -> u64 {
    let bytes = planner.dry_run(params, &ctx_params()).unwrap();
    gpu_bytes(&bytes).iter().map(|(_, b)| b).sum()
}

fn totals(bytes: &BTreeMap<String, DeviceBytes>) -> BTreeMap<String, u64> {
    bytes
        .iter()
        .map(|(device, b)| (device.clone(), b.total()))
        .collect()
}

#[test]
fn the_presets_layouts_count_the_experts_the_specs_have() {
    for preset in Preset::ALL {
        let spec = build(preset, &SynthOptions::default()).unwrap();
        let hp = &spec.hparams;
        let layout = ModelLayout::from_parts(
            [hp.n_layer, hp.n_expert as u32, hp.n_expert_used as u32],
            hp.n_ctx_train,
            spec.tensors
                .iter()
                .map(|t| (t.name.as_str(), t.n_elements(), t.n_bytes())),
        );
        assert!(layout.is_moe(), "{}", preset.name());
        assert_eq!(
            layout.expert_bytes(),
            spec.expert_bytes(),
            "{}",
            preset.name()
        );
    }
}

#[test]
fn the_test_moe_has_three_expert_matrices_per_layer() {
    let file = llama_cpp::gguf::GgufFile::open(require(moe_test_model())).unwrap();
    let layout = ModelLayout::from_gguf(&file);
    assert!(layout.is_moe());
    assert_eq!((layout.n_expert, layout.n_expert_used), (4, 1));
    let experts = layout.tensors.iter().filter(|t| t.expert.is_some()).count();
    assert_eq!(experts, 3 * layout.n_layer as usize);
}

/// Issue 13, "planned bytes equal post-load bytes": the dry run the planner
/// trusts is llama.cpp's own accounting, so it must equal a real load's.
#[test]
fn the_dry_run_accounts_exactly_what_a_load_allocates() {
    let planner = Planner::new(require(moe_test_model()));
    for params in [
        read_params(),
        read_params().with_cpu_moe_all(),
        read_params().with_n_cpu_moe(7),
    ] {
        let predicted = planner.dry_run(&params, &ctx_params()).unwrap();
        assert!(
            predicted.values().map(|b| b.kv).sum::<u64>() > 0,
            "the KV cache is counted"
        );
        assert!(
            predicted.values().map(|b| b.compute).sum::<u64>() > 0,
            "compute is counted"
        );
        assert_eq!(totals(&predicted), loaded_bytes(&params, ctx_params()));
    }
}

/// Without a GPU there is nothing to place and the plan says so; with one,
/// the plan has a device row per GPU. (One test, valid in either lane.)
#[test]
fn a_plan_names_its_gpus_or_says_there_is_none() {
    let plan = Planner::new(require(moe_test_model()))
        .plan(&read_params(), &ctx_params())
        .unwrap();
    if has_gpu() {
        assert!(!plan.devices.is_empty(), "{plan}");
    } else {
        assert!(
            plan.devices.is_empty() && plan.overrides.is_empty(),
            "{plan}"
        );
        assert!(plan.reasons[0].contains("no GPU"), "{plan}");
    }
    // Applying it keeps the caller's overrides first.
    let params = read_params().with_n_cpu_moe(2);
    let plan = Planner::new(require(moe_test_model()))
        .plan(&params, &ctx_params())
        .unwrap();
    let applied = params.clone().with_plan(&plan).unwrap();
    assert_eq!(applied.tensor_overrides()[0], params.tensor_overrides()[0]);
}

#[test]
fn a_dense_model_is_not_planned() {
    let dense = llama_cpp_rs_moe::models::dense_test_model();
    let err = Planner::new(require(dense))
        .plan(&read_params(), &ctx_params())
        .unwrap_err();
    assert!(
        err.to_string().contains("not a Mixture-of-Experts model"),
        "{err}"
    );
}

/// On the GPU: for budgets between "every expert on the host" and "every
/// expert on the GPU", the plan fits, a real load allocates exactly the
/// predicted bytes, and a budget below the minimum is an error naming it.
#[test]
#[ignore = "needs a GPU; runs in scripts/gpu/run.sh"]
fn plans_fit_their_budget_and_predict_the_load() {
    assert!(has_gpu(), "this test needs a GPU build on a GPU machine");
    let path = require(moe_test_model());
    let planner = Planner::new(&path);
    let (low, high) = (
        gpu_total(&planner, &read_params().with_cpu_moe_all()),
        gpu_total(&planner, &read_params()),
    );
    assert!(
        low < high,
        "--cpu-moe needs less VRAM ({low}) than all on the GPU ({high})"
    );
    for budget in [
        low,
        low + (high - low) / 3,
        low + 2 * (high - low) / 3,
        high,
        2 * high,
    ] {
        // No reserve: the budgets are llama.cpp's own figures.
        let planner = Planner::new(&path)
            .reserve(0)
            .budget(Budget::bytes_per_device([budget]));
        let plan = planner.plan(&read_params(), &ctx_params()).unwrap();
        println!("budget {budget}:\n{plan}");
        let gpu = &plan.devices[0];
        assert!(gpu.bytes.total() <= budget, "{plan}");
        let params = read_params().with_plan(&plan).unwrap();
        let loaded = loaded_bytes(&params, ctx_params().with_plan(&plan));
        assert_eq!(
            loaded.get(&gpu.name).copied(),
            Some(gpu.bytes.total()),
            "{plan}"
        );
    }
    let planner = Planner::new(&path)
        .reserve(0)
        .budget(Budget::bytes_per_device([low - 1]));
    let err = planner.plan(&read_params(), &ctx_params()).unwrap_err();
    assert!(err.to_string().contains(&format!("{low} bytes")), "{err}");
    // n_gpu_layers left at llama.cpp's default: the same budget is a plan
    // with the first layers on the CPU, and the load allocates what it says.
    let unset = LlamaModelParams::default().with_load_mode(LoadMode::Read);
    let plan = planner.plan(&unset, &ctx_params()).unwrap();
    println!("budget {} with n_gpu_layers unset:\n{plan}", low - 1);
    assert!(plan.n_gpu_layers.is_some(), "{plan}");
    let gpu = &plan.devices[0];
    assert!(gpu.bytes.total() < low, "{plan}");
    let params = unset.with_plan(&plan).unwrap();
    let loaded = loaded_bytes(&params, ctx_params().with_plan(&plan));
    assert_eq!(
        loaded.get(&gpu.name).copied(),
        Some(gpu.bytes.total()),
        "{plan}"
    );
    // The default budget: free memory minus 1 GiB.
    let plan = Planner::new(&path)
        .plan(&read_params(), &ctx_params())
        .unwrap();
    assert!(
        plan.host_experts.is_empty(),
        "the test MoE fits a GPU with {GIB} to spare: {plan}"
    );
}

#[test]
fn calibrating_without_a_gpu_says_so() {
    // n_gpu_layers 0 loads onto no GPU, on any machine.
    let planner = Planner::new(require(moe_test_model()));
    let params = read_params().with_n_gpu_layers(0);
    let err = calibration_placements(&planner, &params, &ctx_params(), 0).unwrap_err();
    assert!(matches!(err, CalibrationPlacementError::NoGpu), "{err:?}");
}

#[test]
#[ignore = "needs a GPU; runs in scripts/gpu/run.sh"]
fn calibration_measures_cpu_moe_and_the_half_that_fits() {
    assert!(has_gpu(), "this test needs a GPU build on a GPU machine");
    let path = require(moe_test_model());
    let n_layer = ModelLayout::from_gguf(&llama_cpp::gguf::GgufFile::open(&path).unwrap()).n_layer;
    let half = (n_layer / 2) as usize;
    let planner = Planner::new(&path);
    let (all, fewer) = (
        gpu_total(&planner, &read_params().with_cpu_moe_all()),
        gpu_total(&planner, &read_params().with_n_cpu_moe(half)),
    );
    assert!(
        all < fewer,
        "--cpu-moe {all} bytes, --n-cpu-moe {half} {fewer}"
    );
    let placements = |budget: u64| {
        let planner = Planner::new(&path).budget(Budget::bytes_per_device([budget]));
        calibration_placements(&planner, &read_params(), &ctx_params(), 0)
    };
    // Room for half the layers' experts: the two points as far apart as that.
    assert_eq!(
        placements(fewer).unwrap(),
        [CpuMoe::All, CpuMoe::FirstLayers(half)]
    );
    assert_eq!(
        placements(2 * fewer).unwrap(),
        [CpuMoe::All, CpuMoe::FirstLayers(half)]
    );
    // Room for --cpu-moe alone.
    assert_eq!(placements(all).unwrap(), [CpuMoe::All]);
    let err = placements(all - 1).unwrap_err();
    assert!(
        matches!(err, CalibrationPlacementError::NothingFits(ref b)
            if b.iter().map(|(_, bytes)| *bytes).eq([all - 1])),
        "{err:?}"
    );
}
