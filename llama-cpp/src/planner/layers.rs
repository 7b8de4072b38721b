//! The fallback when moving experts is not enough: fewer layers on the GPU.
//!
//! llama.cpp offloads the last `n_gpu_layers` layers (the output layer
//! counting as one), so lowering it sends the first layers to the CPU whole:
//! attention, KV cache and experts in host memory. The planner does that only
//! where the caller left `n_gpu_layers` at llama.cpp's default (as llama.cpp's
//! own fit decides what the user set) and only when every expert it may move
//! is already in host memory and a GPU is still over its budget. It takes the
//! largest `n_gpu_layers` whose placement fits by the dry runs, then the
//! fewest experts at that count, as [`search`](super::search) does.

use super::layout::ModelLayout;
use super::order::ExpertOrder;
use super::search::{self, Candidate, Measured, MemoryProbe, Outcome, Problem};
use super::setup::Setup;
use super::PlanError;

/// The lowest `n_gpu_layers` tried: the output layer alone on the GPU. Zero
/// would be no GPU at all, which is not a placement on it.
pub(crate) const MIN_N_GPU_LAYERS: u32 = 1;

/// A placement with fewer layers on the GPU.
#[derive(Debug)]
pub(crate) struct Lowered {
    /// The placement at [`Problem::n_gpu_layers`].
    pub setup: Setup,
    pub problem: Problem,
    pub outcome: Outcome,
}

/// The largest `n_gpu_layers` below every layer at which `shape` fits
/// `budgets` (less the reserve), with the fewest experts moved there.
/// [`PlanError::BudgetTooSmall`] with `n_gpu_layers` set to
/// [`MIN_N_GPU_LAYERS`] when not even that fits.
pub(crate) fn lower_n_gpu_layers(
    layout: &ModelLayout,
    setup: &Setup,
    budgets: &[u64],
    biases_follow: bool,
    order: ExpertOrder,
    probe: &mut dyn MemoryProbe,
    shape: (u32, u32, u32),
) -> Result<Lowered, PlanError> {
    let (n_ctx, n_batch, n_ubatch) = shape;
    let at = |n: u32| {
        let setup = setup.with_n_gpu_layers(layout, n);
        let problem = Problem {
            units: setup.units(layout, biases_follow, order),
            budgets: budgets.to_vec(),
            n_gpu_layers: Some(n),
        };
        (setup, problem)
    };
    let mut probes = 0;
    // Every expert the planner may move at `n` in host memory: the least
    // VRAM that layer count can use.
    let mut all_host = |n: u32| -> Result<Measured, PlanError> {
        let (_, problem) = at(n);
        let c = Candidate {
            host_units: problem.units.iter().map(Vec::len).collect(),
            n_ctx,
            n_batch,
            n_ubatch,
        };
        probes += 1;
        probe.measure(&problem, &c)
    };
    let fits = |m: &Measured| m.gpus.iter().zip(budgets).all(|(d, &b)| d.total() <= b);

    let floor = all_host(MIN_N_GPU_LAYERS)?;
    if !fits(&floor) {
        return Err(PlanError::BudgetTooSmall {
            n_ctx,
            n_ubatch,
            n_gpu_layers: Some(MIN_N_GPU_LAYERS),
            shortfalls: search::shortfalls(&floor, budgets),
        });
    }
    // Fewer layers on a GPU never need more of it: bisect for the largest
    // count that fits. Every layer (n_layer + 1) was tried by the caller.
    let (mut lo, mut hi) = (MIN_N_GPU_LAYERS, layout.n_layer.max(MIN_N_GPU_LAYERS));
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if fits(&all_host(mid)?) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let (setup, problem) = at(lo);
    let mut outcome = search::search(&problem, probe, shape)?;
    outcome.probes += probes;
    Ok(Lowered {
        setup,
        problem,
        outcome,
    })
}
