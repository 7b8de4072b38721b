//! Which layers' experts leave the GPU first: the last layers' unless the
//! speed model says the first ones route a prompt more narrowly
//! ([`SpeedModel::first_layers_spread`]), on the fake devices of
//! [`super::tests`].

use super::tests::{ctx_4096, gpt_oss, one_gpu, plan_with};
use super::*;
use std::collections::BTreeSet;

/// A speed model whose first `layers` layers route over `first`, the rest
/// over `rest`.
fn spreads(layers: u32, first: f64, rest: f64) -> SpeedModel {
    SpeedModel {
        routing_spread: rest,
        first_layers_spread: Some(FirstLayersSpread {
            layers,
            spread: first,
        }),
        ..SpeedModel::h200_reference()
    }
}

/// The layers with host experts in the plan for `budget`, and the plan.
fn host_layers(speed: SpeedModel, budget: u64) -> (BTreeSet<u32>, Plan) {
    let layout = gpt_oss(24);
    let setup = one_gpu(&layout);
    let planner = Planner::new("m").reserve(0).speed_model(speed);
    let ctx = ctx_4096().with_n_ubatch(2048);
    let plan = plan_with(&planner, &layout, &setup, &[budget], &ctx)
        .0
        .unwrap();
    (plan.host_experts.iter().map(|h| h.0).collect(), plan)
}

#[test]
fn narrower_first_layers_leave_first_and_otherwise_the_last_ones() {
    let budget = 9 * GIB;
    let (last, plan) = host_layers(SpeedModel::h200_reference(), budget);
    let from = *last.iter().next().unwrap();
    assert_eq!(last, (from..24).collect(), "the last layers by default");
    assert!(
        last.len() < 12,
        "fewer layers leave than route narrowly: {last:?}"
    );
    assert!(plan.reasons.iter().any(|r| r.contains("last layers first")));

    // The first 12 layers route a prompt to a tenth of what the rest do.
    let (first, narrow) = host_layers(spreads(12, 0.05, 0.5), budget);
    // Among the narrow ones, the last first again.
    let from = *first.iter().next().unwrap();
    assert_eq!(first, (from..12).collect(), "{first:?}");
    assert!(
        from > 0,
        "fewer layers leave than route narrowly: {first:?}"
    );
    assert!(
        narrow
            .reasons
            .iter()
            .any(|r| r.contains("layers 0–11 first")),
        "{narrow}"
    );
    // The same bytes leave the GPU either way; the prompt copies fewer.
    let bytes = |p: &Plan| p.host_expert_bytes;
    assert!(bytes(&narrow).abs_diff(bytes(&plan)) < GIB / 4);
    // With those spreads, the last layers' placement would prompt slower.
    let last_order = narrow.speed_model.predict_placement(
        &gpt_oss(24),
        &HostExperts::of_plan(&plan),
        plan.shape.2,
        Workload::default(),
    );
    assert!(
        narrow.speed.prompt_tps > 1.1 * last_order.prompt_tps,
        "{:?} against {last_order:?}",
        narrow.speed
    );

    // Narrower later layers (trained models): the last ones still go first.
    let (wide_first, _) = host_layers(spreads(12, 0.5, 0.05), budget);
    assert_eq!(wide_first, last);
}
