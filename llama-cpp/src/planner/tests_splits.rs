//! Expert biases and the round trips of host experts: the H200 rows of
//! 2026-12-02 (docs/PLANNER-BENCHMARKS.md, "Expert biases") on the fake devices of
//! [`super::tests`].

use super::tests::{ctx_4096, gpt_oss, plan_with};
use super::*;
use crate::offload::TensorRegex;

#[test]
fn expert_biases_follow_their_matrices_by_default() {
    assert_eq!(ExpertBiases::default(), ExpertBiases::FollowMatrices);
    let layout = gpt_oss(24);
    let setup = super::tests::one_gpu(&layout);
    let ctx = ctx_4096().with_n_ubatch(2048);
    for (planner, follow) in [
        (Planner::new("m").reserve(0), true),
        (
            Planner::new("m")
                .reserve(0)
                .expert_biases(ExpertBiases::Gpu),
            false,
        ),
    ] {
        let plan = plan_with(&planner, &layout, &setup, &[8 * GIB], &ctx)
            .0
            .unwrap();
        assert!(!plan.host_experts.is_empty());
        let regexes: Vec<TensorRegex> = plan
            .overrides
            .iter()
            .map(|p| TensorRegex::new(p).unwrap())
            .collect();
        for t in layout.tensors.iter().filter(|t| t.is_bias) {
            let matrix_moved = plan
                .host_experts
                .contains(&(t.layer.unwrap(), t.expert.unwrap()));
            let moved = regexes.iter().any(|re| re.is_match(&t.name));
            assert_eq!(
                moved,
                matrix_moved && follow,
                "{} {:?}",
                t.name,
                plan.overrides
            );
        }
        let said = if follow {
            "expert biases go with their matrices"
        } else {
            "expert biases stay on the GPU, as asked"
        };
        assert!(plan.reasons.iter().any(|r| r.starts_with(said)), "{plan}");
    }
}

/// The traffic of `host_units` units (last layer first) moved off one GPU.
fn traffic_of(layout: &ModelLayout, follow: bool, host_units: usize) -> speed::Traffic {
    let setup = super::tests::one_gpu(layout);
    let problem = search::Problem {
        units: setup.units(layout, follow, ExpertOrder::LastLayers),
        budgets: vec![u64::MAX],
        n_gpu_layers: None,
    };
    let c = search::Candidate {
        host_units: vec![host_units],
        n_ctx: 4096,
        n_batch: 2048,
        n_ubatch: 2048,
    };
    traffic(layout, &setup, &problem, &c)
}

#[test]
fn round_trips_follow_the_graph_splits_llama_cpp_makes() {
    let layout = gpt_oss(24);
    // llama.cpp's splits per token are 2 per round trip plus 2: --cpu-moe
    // made 50 with the biases following, 146 with them on the GPU.
    for (follow, splits) in [(true, 50), (false, 146)] {
        let t = traffic_of(&layout, follow, 24 * 3);
        assert_eq!(2 * t.host_round_trips + 2, splits, "follow {follow}");
    }
    // A boundary layer of down, then down and gate: one round trip with the
    // biases following; with them on the GPU one per host matrix.
    for (units, follow, trips) in [
        (1, true, 1),
        (2, true, 1),
        (3, true, 1),
        (1, false, 1),
        (2, false, 2),
        (3, false, 3),
        (4, true, 2),
        (4, false, 4),
    ] {
        let t = traffic_of(&layout, follow, units);
        assert_eq!(t.host_round_trips, trips, "{units} units, follow {follow}");
    }
}

#[test]
fn a_split_boundary_layer_is_never_slower_than_moving_it_whole() {
    // 12 whole layers and layer 11's down (the 8 GiB plan) against 13 whole
    // layers, which frees more than the budget needs: whatever a round trip
    // costs, the split decodes and prefills at least as fast.
    let layout = gpt_oss(24);
    for follow in [true, false] {
        let split = traffic_of(&layout, follow, 12 * 3 + 1);
        let whole = traffic_of(&layout, follow, 13 * 3);
        assert!(split.host_round_trips <= whole.host_round_trips);
        assert!(split.host_expert_bytes < whole.host_expert_bytes);
        for overhead in [0.0, 0.1e-3, 1e-3, 5e-3] {
            let model = SpeedModel {
                host_decode_layer_overhead: overhead,
                ..SpeedModel::h200_reference()
            };
            let workload = Workload::default();
            let (s, w) = (
                model.predict(&layout, &split, 2048, workload),
                model.predict(&layout, &whole, 2048, workload),
            );
            assert!(s.decode_tps > w.decode_tps, "{overhead}: {s:?} {w:?}");
            assert!(s.prompt_tps >= w.prompt_tps, "{overhead}: {s:?} {w:?}");
        }
    }
}
