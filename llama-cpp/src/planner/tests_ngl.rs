//! The fallback to fewer GPU layers ([`super::layers`]) on the fake devices
//! of [`super::tests`]: taken only when moving every expert is not enough,
//! never when the caller set `n_gpu_layers`, and the error's minimum is the
//! smallest budget that works with it.

use super::layout::Slot;
use super::search::{Candidate, MemoryProbe, Problem};
use super::setup::Setup;
use super::tests::{gpt_oss, one_gpu, plan_with, FakeProbe};
use super::*;

fn ctx() -> LlamaContextParams {
    LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(8192))
        .with_n_ubatch(2048)
}

/// The smallest budget of `setup` with every movable expert on the host.
fn minimum(setup: &Setup, layout: &ModelLayout, budget: u64) -> (PlanError, u64) {
    let planner = Planner::new("m").reserve(0);
    let err = plan_with(&planner, layout, setup, &[budget], &ctx())
        .0
        .unwrap_err();
    let PlanError::BudgetTooSmall { ref shortfalls, .. } = err else {
        panic!("{err}")
    };
    let m = shortfalls[0].minimum;
    (err, m)
}

/// llama.cpp's (fake) accounting of `n_gpu_layers` with every movable
/// expert on the host.
fn all_host_total(layout: &ModelLayout, setup: &Setup, n: u32) -> u64 {
    let at = setup.with_n_gpu_layers(layout, n);
    let problem = Problem {
        units: at.units(layout, true, ExpertOrder::LastLayers),
        budgets: vec![u64::MAX],
        n_gpu_layers: Some(n),
    };
    let c = Candidate {
        host_units: problem.units.iter().map(Vec::len).collect(),
        n_ctx: 8192,
        n_batch: 2048,
        n_ubatch: 2048,
    };
    let mut probe = FakeProbe {
        layout,
        setup,
        calls: 0,
    };
    probe.measure(&problem, &c).unwrap().gpus[0].total()
}

#[test]
fn fewer_gpu_layers_only_when_every_expert_on_the_host_is_not_enough() {
    let layout = gpt_oss(24);
    let setup = one_gpu(&layout);
    assert!(setup.n_gpu_layers_unset());
    let set = Setup::from_rules(&layout, 999, &[140 * GIB], |_| None);
    let (_, experts_only) = minimum(&set, &layout, GIB);
    let planner = Planner::new("m").reserve(0);

    // Moving experts is enough: n_gpu_layers stays unset.
    let plan = plan_with(&planner, &layout, &setup, &[experts_only], &ctx())
        .0
        .unwrap();
    assert_eq!(plan.n_gpu_layers, None);
    assert_eq!(plan.host_experts.len(), 24 * 3);

    // Below that: the largest n_gpu_layers that fits, the first layers on
    // the CPU.
    let budget = experts_only - GIB / 2;
    let plan = plan_with(&planner, &layout, &setup, &[budget], &ctx())
        .0
        .unwrap();
    let n = plan.n_gpu_layers.expect("fewer GPU layers");
    assert!((1..25).contains(&n), "{n}");
    assert!(plan.devices[0].bytes.total() <= budget);
    assert!(all_host_total(&layout, &setup, n) <= budget);
    assert!(
        all_host_total(&layout, &setup, n + 1) > budget,
        "{n} is the largest"
    );
    let first_gpu_layer = 25 - n;
    assert!(
        plan.host_experts.iter().all(|h| h.0 >= first_gpu_layer),
        "the plan moves only GPU layers' experts"
    );
    assert!(plan
        .reasons
        .iter()
        .any(|r| r.starts_with(&format!("n_gpu_layers {n}: left unset"))));
    assert!(plan.to_string().contains("optimistic"), "{plan}");
    assert!(
        plan.to_string().contains(&format!("n_gpu_layers: {n} (")),
        "{plan}"
    );

    // The same budget with n_gpu_layers set by the caller: an error, the
    // experts-only minimum.
    let (err, m) = minimum(&set, &layout, budget);
    assert_eq!(m, experts_only);
    assert!(matches!(
        err,
        PlanError::BudgetTooSmall {
            n_gpu_layers: None,
            ..
        }
    ));
}

#[test]
fn the_error_names_the_smallest_budget_with_fewer_gpu_layers() {
    let layout = gpt_oss(24);
    let setup = one_gpu(&layout);
    let set = Setup::from_rules(&layout, 999, &[140 * GIB], |_| None);
    let (_, experts_only) = minimum(&set, &layout, GIB / 2);
    let (err, floor) = minimum(&setup, &layout, GIB / 2);
    let PlanError::BudgetTooSmall { n_gpu_layers, .. } = err else {
        unreachable!()
    };
    assert_eq!(n_gpu_layers, Some(layers::MIN_N_GPU_LAYERS));
    assert!(
        err.to_string()
            .contains("n_gpu_layers lowered to 1 (the output layer alone on the GPU)"),
        "{err}"
    );
    assert!(floor < experts_only, "{floor} < {experts_only}");
    assert_eq!(floor, all_host_total(&layout, &setup, 1));
    // Exactly that budget works, one byte less does not.
    let planner = Planner::new("m").reserve(0);
    let plan = plan_with(&planner, &layout, &setup, &[floor], &ctx())
        .0
        .unwrap();
    assert_eq!(plan.n_gpu_layers, Some(1));
    assert_eq!(plan.devices[0].bytes.total(), floor);
    assert!(plan_with(&planner, &layout, &setup, &[floor - 1], &ctx())
        .0
        .is_err());
    // With the default reserve the minimum names it too.
    let Err(PlanError::BudgetTooSmall { shortfalls, .. }) =
        plan_with(&Planner::new("m"), &layout, &setup, &[GIB / 2], &ctx()).0
    else {
        panic!()
    };
    assert_eq!(shortfalls[0].minimum, floor + DEFAULT_RESERVE);
}

#[test]
fn the_caller_keeps_n_gpu_layers_and_the_plan_applies_its_own() {
    let layout = gpt_oss(24);
    let setup = one_gpu(&layout);
    let set = Setup::from_rules(&layout, 999, &[140 * GIB], |_| None);
    let (_, experts_only) = minimum(&set, &layout, GIB);
    let budget = experts_only - GIB / 2;
    let plan = plan_with(
        &Planner::new("m").reserve(0),
        &layout,
        &setup,
        &[budget],
        &ctx(),
    )
    .0
    .unwrap();
    let n = plan.n_gpu_layers.unwrap();
    // Unset params take the plan's count; params that set one are refused.
    let params = LlamaModelParams::default().with_plan(&plan).unwrap();
    assert_eq!(params.n_gpu_layers(), n as i32);
    let err = LlamaModelParams::default()
        .with_n_gpu_layers(999)
        .with_plan(&plan)
        .unwrap_err();
    assert!(err.to_string().contains("left it unset"), "{err}");
    // Real params: only llama.cpp's default counts as unset.
    let real = |p: &LlamaModelParams| {
        Setup::new(&layout, p, &["GPU0".into()], &[140 * GIB])
            .unwrap()
            .n_gpu_layers_unset()
    };
    assert!(real(&LlamaModelParams::default()));
    assert!(!real(&LlamaModelParams::default().with_n_gpu_layers(999)));
    assert!(!real(&LlamaModelParams::default().with_n_gpu_layers(20)));
}

#[test]
fn layers_on_the_cpu_are_read_by_it_and_cost_no_round_trip() {
    let layout = gpt_oss(24);
    let setup = one_gpu(&layout);
    // n_gpu_layers 14: layers 0-10 on the CPU, as llama.cpp's fit chose at
    // 3 GiB; the 13 GPU layers' experts on the host.
    let lowered = setup.with_n_gpu_layers(&layout, 14);
    let slot =
        |name: &str| lowered.slots[layout.tensors.iter().position(|t| t.name == name).unwrap()];
    assert_eq!(slot("blk.10.attn_q.weight"), Slot::Host);
    assert_eq!(slot("blk.11.attn_q.weight"), Slot::Gpu(0));
    assert_eq!(slot("output.weight"), Slot::Gpu(0));
    let problem = Problem {
        units: lowered.units(&layout, true, ExpertOrder::LastLayers),
        budgets: vec![u64::MAX],
        n_gpu_layers: Some(14),
    };
    assert_eq!(problem.units[0].len(), 13 * 3);
    let c = Candidate {
        host_units: vec![13 * 3],
        n_ctx: 8192,
        n_batch: 2048,
        n_ubatch: 2048,
    };
    let t = traffic(&layout, &lowered, &problem, &c);
    assert_eq!(t.host_round_trips, 13, "the CPU layers make none");
    let everything = layout
        .tensors
        .iter()
        .filter(|t| t.expert.is_some())
        .map(|t| t.n_bytes)
        .sum::<u64>();
    assert_eq!(t.host_expert_bytes, everything);
    // The CPU layers' attention is read by the CPU: slower than --cpu-moe.
    let cpu_moe = traffic(
        &layout,
        &setup,
        &Problem {
            units: setup.units(&layout, true, ExpertOrder::LastLayers),
            budgets: vec![u64::MAX],
            n_gpu_layers: None,
        },
        &Candidate {
            host_units: vec![24 * 3],
            ..c
        },
    );
    assert_eq!(cpu_moe.host_dense_bytes, 0);
    assert!(t.host_dense_bytes > 11 * 50_000_000);
    let speed = SpeedModel::h200_reference();
    let w = Workload::default();
    let (low, all) = (
        speed.predict(&layout, &t, 2048, w),
        speed.predict(&layout, &cpu_moe, 2048, w),
    );
    assert!(low.decode_tps < all.decode_tps, "{low:?} {all:?}");
    assert!(low.prompt_tps < all.prompt_tps, "{low:?} {all:?}");
}
