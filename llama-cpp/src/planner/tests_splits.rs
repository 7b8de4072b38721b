//! Expert biases and the round trips of host experts: the H200 rows of
//! 2026-12-02 (docs/BENCHMARKS.md, "Expert biases") on the fake devices of
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
