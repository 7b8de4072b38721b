//! Which layers' experts leave first ([`super::order`]), on the fake
//! devices of [`super::tests`]: the last layers' with one boundary layer
//! split per matrix, the first layers' when asked, and by default the one
//! the workload's longer phase favours.

use super::tests::{ctx_4096, gpt_oss, last_layers_first, one_gpu, plan_with};
use super::*;
use std::collections::BTreeSet;

#[test]
fn the_last_layers_leave_first_and_one_boundary_layer_splits_per_matrix() {
    let layout = gpt_oss(24);
    let setup = one_gpu(&layout);
    let ctx = ctx_4096().with_n_ubatch(2048);
    let mut splits = 0;
    for budget in [5 * GIB, 6 * GIB + GIB / 3, 7 * GIB + GIB / 7, 9 * GIB] {
        let plan = plan_with(&last_layers_first(), &layout, &setup, &[budget], &ctx)
            .0
            .unwrap();
        let layers: BTreeSet<u32> = plan.host_experts.iter().map(|h| h.0).collect();
        let first = *layers.iter().next().unwrap();
        assert_eq!(
            layers,
            (first..24).collect(),
            "a suffix of the layers: {layers:?}"
        );
        for layer in first + 1..24 {
            let parts: Vec<_> = plan
                .host_experts
                .iter()
                .filter(|h| h.0 == layer)
                .map(|h| h.1)
                .collect();
            assert_eq!(parts.len(), 3, "layer {layer} moves whole");
        }
        let mut boundary: Vec<_> = plan
            .host_experts
            .iter()
            .filter(|h| h.0 == first)
            .map(|h| h.1)
            .collect();
        boundary.sort();
        let order = [ExpertPart::Down, ExpertPart::Gate, ExpertPart::Up];
        assert_eq!(
            boundary,
            order[..boundary.len()],
            "down leaves first, then gate"
        );
        splits += usize::from(boundary.len() < 3);
        assert!(plan.overrides.len() <= 2, "{:?}", plan.overrides);
    }
    assert!(splits > 0, "some budget splits the boundary layer");
}

#[test]
fn the_first_layers_leave_first_when_asked_and_as_many_as_the_last() {
    let layout = gpt_oss(24);
    let setup = one_gpu(&layout);
    let ctx = ctx_4096().with_n_ubatch(2048);
    for budget in [5 * GIB, 6 * GIB + GIB / 3, 9 * GIB] {
        let plan = |order| {
            let planner = Planner::new("m").reserve(0).expert_order(order);
            plan_with(&planner, &layout, &setup, &[budget], &ctx)
                .0
                .unwrap()
        };
        let (first, last) = (
            plan(ExpertOrder::FirstLayers),
            plan(ExpertOrder::LastLayers),
        );
        let layers: BTreeSet<u32> = first.host_experts.iter().map(|h| h.0).collect();
        let end = *layers.iter().next_back().unwrap();
        assert_eq!(layers, (0..=end).collect(), "a prefix: {layers:?}");
        let boundary = first.host_experts.iter().filter(|h| h.0 == end).count();
        let whole = first.host_experts.len() - boundary;
        assert_eq!(
            whole,
            3 * end as usize,
            "the layers before the boundary move whole"
        );
        // Every layer holds the same bytes: the mirror image of the default.
        assert_eq!(first.host_experts.len(), last.host_experts.len());
        assert!(first
            .reasons
            .iter()
            .any(|r| r.contains("first layers first")));
        assert!(last.reasons.iter().any(|r| r.contains("last layers first")));
    }
}

#[test]
fn by_default_the_order_follows_the_phase_the_workload_spends_longer_in() {
    let layout = gpt_oss(24);
    let setup = one_gpu(&layout);
    let ctx = ctx_4096().with_n_ubatch(2048);
    let budget = [6 * GIB + GIB / 3];
    let plan = |planner: Planner| {
        plan_with(&planner, &layout, &setup, &budget, &ctx)
            .0
            .unwrap()
    };
    let prefix = |plan: &Plan| {
        let layers: BTreeSet<u32> = plan.host_experts.iter().map(|h| h.0).collect();
        layers.contains(&0) && !layers.contains(&23)
    };
    let workload_reason = |plan: &Plan| {
        let at = plan
            .reasons
            .iter()
            .position(|r| r.contains("for the workload"));
        at.map(|i| (i, plan.reasons[i].clone()))
    };

    // A chat turn decodes longer than it prompts: the first layers' order.
    let chat = plan(Planner::new("m").reserve(0));
    assert_eq!(chat.workload, Workload::default());
    assert!(prefix(&chat), "{chat}");
    let first = plan(
        Planner::new("m")
            .reserve(0)
            .expert_order(ExpertOrder::FirstLayers),
    );
    assert_eq!(chat.host_experts, first.host_experts);
    assert_eq!(chat.speed, first.speed);
    let (at, reason) = workload_reason(&chat).expect("the choice is explained");
    assert!(reason.starts_with("first layers first"), "{reason}");
    assert!(
        chat.reasons[at - 1].starts_with("experts to host memory"),
        "beside the host experts: {chat}"
    );
    assert!(
        workload_reason(&first).is_none(),
        "an explicit order is kept"
    );

    // Long prompts and short answers: the last layers' order, the same bytes.
    let long = plan(Planner::new("m").reserve(0).workload(Workload {
        prompt_tokens: 16384,
        generated_tokens: 1,
    }));
    assert!(!prefix(&long), "{long}");
    let last = plan(last_layers_first());
    assert_eq!(long.host_experts, last.host_experts);
    let (_, reason) = workload_reason(&long).expect("the choice is explained");
    assert!(reason.starts_with("last layers first"), "{reason}");
}
