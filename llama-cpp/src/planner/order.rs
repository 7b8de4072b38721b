//! Which layers' experts the planner moves to host memory first.

use super::{SpeedPrediction, Workload};

/// Which layers' expert matrices leave the GPU first
/// ([`Planner::expert_order`](super::Planner::expert_order)). Within a layer
/// the order is down, gate, up either way, and one boundary layer splits per
/// matrix.
///
/// The two orders favour different phases, and the default picks by the
/// [`Workload`]:
/// * the last layers' speeds up prompts: ik_llama.cpp (#2262) measured
///   prompts about 10% faster with trained models and decode level, because
///   their later layers route more narrowly, so a ubatch copies fewer of
///   those layers' experts. Random-weight models route uniformly and cannot
///   show that gain. llama.cpp's own fit moves the last layers' first too.
/// * the first layers' (llama.cpp's `--n-cpu-moe N` order) decoded faster on
///   the H200 with the same bytes and graph splits (docs/PLANNER-BENCHMARKS.md,
///   eighth and ninth runs; random-weight GPT-OSS-20B and Qwen3-30B-A3B
///   shapes): the last layers' decoded 4–5% slower at 10 and 4 GiB, in 29 of
///   36 turns there, level at 6 GiB. Why is not known; the work per token is
///   the same by construction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ExpertOrder {
    /// The default: the last layers' order when the plan's predicted prompt
    /// takes at least as long as its decode, the first layers' otherwise
    /// (a chat turn, [`Workload::default`], decodes longer than it prompts).
    /// The planner plans with the last layers' order and plans again with the
    /// first layers' when the workload asks for it: a second set of dry runs.
    #[default]
    ByWorkload,
    /// The last layers' experts leave first.
    LastLayers,
    /// The first layers' experts leave first, as with `--n-cpu-moe N`.
    FirstLayers,
}

impl ExpertOrder {
    /// The order to plan with first: [`ExpertOrder::ByWorkload`] starts with
    /// the last layers'.
    pub(crate) fn first_try(self) -> Self {
        match self {
            Self::ByWorkload => Self::LastLayers,
            order => order,
        }
    }

    /// For [`ExpertOrder::ByWorkload`]: the order for `workload` given a
    /// plan's predicted `speed` (the same for either order: the speed model
    /// counts bytes, not which layers hold them), and the reason.
    pub(crate) fn for_workload(speed: &SpeedPrediction, workload: Workload) -> (Self, String) {
        let prompt = f64::from(workload.prompt_tokens) / speed.prompt_tps;
        let decode = f64::from(workload.generated_tokens) / speed.decode_tps;
        let (order, why) = if prompt >= decode {
            (
                Self::LastLayers,
                "the last layers' order speeds up prompts of trained models",
            )
        } else {
            (
                Self::FirstLayers,
                "the first layers' order decoded faster on the H200",
            )
        };
        let reason = format!(
            "{} for the workload: its {}-token prompt takes {prompt:.2} s and its {} tokens \
             {decode:.2} s by the prediction; {why}",
            order.describe(),
            workload.prompt_tokens,
            workload.generated_tokens,
        );
        (order, reason)
    }

    /// Where `layer`'s experts stand in the order: lower leaves sooner.
    /// [`ExpertOrder::ByWorkload`] ranks as its [first try](Self::first_try).
    pub(crate) fn rank(self, layer: u32) -> i64 {
        match self.first_try() {
            Self::FirstLayers => i64::from(layer),
            _ => -i64::from(layer),
        }
    }

    /// The order as the plan's reasons name it.
    pub(crate) fn describe(self) -> &'static str {
        match self.first_try() {
            Self::FirstLayers => "first layers first, as --n-cpu-moe N",
            _ => "last layers first",
        }
    }
}
