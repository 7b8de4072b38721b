//! Which layers' experts the planner moves to host memory first.

/// Which layers' expert matrices leave the GPU first
/// ([`Planner::expert_order`](super::Planner::expert_order)). Within a layer
/// the order is down, gate, up either way, and one boundary layer splits per
/// matrix.
///
/// The last layers' by default: ik_llama.cpp (#2262) measured prompts about
/// 10% faster with trained models and decode level, because their later
/// layers route more narrowly, so a ubatch copies fewer of those layers'
/// experts. Random-weight models route uniformly and cannot show that gain.
/// What they showed on the H200 (GPT-OSS-20B shapes, whole layers either
/// way, the same bytes and graph splits; docs/PLANNER-BENCHMARKS.md, eighth
/// run) may be a decode cost: the last layers' experts on the host decoded
/// 5–8% slower than the first layers' at 10, 8 and 4 GiB (median of the
/// turns; slower in 24 of 32) and level at 6 GiB, within the noise of one
/// cell each and for reasons not found. [`ExpertOrder::FirstLayers`] is
/// llama.cpp's `--n-cpu-moe` order: for a caller who decodes far more than
/// they prompt, or who measures both on their own model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ExpertOrder {
    /// The last layers' experts leave first. The default.
    #[default]
    LastLayers,
    /// The first layers' experts leave first, as with `--n-cpu-moe N`.
    FirstLayers,
}

impl ExpertOrder {
    /// Where `layer`'s experts stand in the order: lower leaves sooner.
    pub(crate) fn rank(self, layer: u32) -> i64 {
        match self {
            Self::LastLayers => -i64::from(layer),
            Self::FirstLayers => i64::from(layer),
        }
    }

    /// The order as the plan's reasons name it.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Self::LastLayers => "last layers first",
            Self::FirstLayers => "first layers first, as --n-cpu-moe N",
        }
    }
}
