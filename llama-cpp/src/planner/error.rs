//! Why the planner gives no plan: [`PlanError`], and the shortfall it names.

use super::GIB;
use crate::LlamaError;
use std::path::PathBuf;

/// Why no plan came out.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Reading the model or a dry run failed.
    #[error(transparent)]
    Llama(#[from] LlamaError),
    /// The model has no routed experts, so there is nothing to move.
    #[error("{path}: not a Mixture-of-Experts model (no routed expert tensors); nothing to plan")]
    NotMoe {
        /// The model file.
        path: PathBuf,
    },
    /// An explicit budget with a different number of entries than GPUs.
    #[error("the budget has {given} entries but the plan uses {} GPU(s): {}", gpus.len(),
        gpus.join(", "))]
    BudgetDevices {
        /// Entries given.
        given: usize,
        /// The GPUs planned for, in order.
        gpus: Vec<String>,
    },
    /// Nothing fits: even with every movable expert in host memory (and,
    /// where the caller left `n_gpu_layers` unset, only the output layer on
    /// the GPU) a GPU needs more than its budget. `shortfalls` holds the
    /// smallest budget that works for each GPU that is short.
    #[error("{}", too_small(*n_ctx, *n_ubatch, *n_gpu_layers, shortfalls))]
    BudgetTooSmall {
        /// Context length planned for.
        n_ctx: u32,
        /// The smallest ubatch tried.
        n_ubatch: u32,
        /// `None`: the minimum is with the caller's `n_gpu_layers`, which
        /// the planner does not change once set. `Some(n)`: the caller left
        /// it unset, and the minimum is with `n_gpu_layers` lowered to `n`
        /// (the fallback's floor).
        n_gpu_layers: Option<u32>,
        /// The GPUs over budget.
        shortfalls: Vec<Shortfall>,
    },
    /// A caller's override the plan cannot honour.
    #[error("tensor override {pattern:?} cannot be planned around: {reason}")]
    CallerOverride {
        /// The override's pattern.
        pattern: String,
        /// Why.
        reason: String,
    },
    /// The dry runs gave an answer the planner cannot use.
    #[error("dry run: {0}")]
    Probe(String),
}

/// A GPU that does not fit its budget whatever the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortfall {
    /// Index among the planned GPUs.
    pub gpu: usize,
    /// Its name.
    pub device: String,
    /// Its budget.
    pub budget: u64,
    /// The smallest budget that works: llama.cpp's accounting with every
    /// movable expert in host memory (and `n_gpu_layers` as the error says),
    /// plus the planner's reserve.
    pub minimum: u64,
}

fn too_small(
    n_ctx: u32,
    n_ubatch: u32,
    n_gpu_layers: Option<u32>,
    shortfalls: &[Shortfall],
) -> String {
    let each: Vec<String> = shortfalls
        .iter()
        .map(|s| {
            format!(
                "{} has a budget of {} but needs at least {} ({} bytes)",
                s.device,
                gib(s.budget),
                gib(s.minimum),
                s.minimum
            )
        })
        .collect();
    let (layers, or_else) = match n_gpu_layers {
        Some(n) => (
            format!(" and n_gpu_layers lowered to {n} (the output layer alone on the GPU)"),
            "",
        ),
        None => (
            " with the caller's n_gpu_layers".to_owned(),
            ", or leave n_gpu_layers unset so that the plan may run the first layers on the CPU",
        ),
    };
    format!(
        "the VRAM budget is too small even with every expert the planner may move in host \
         memory{layers} (n_ctx {n_ctx}, n_ubatch {n_ubatch}; the caller's overrides kept): {}; \
         raise the budget to that, or lower n_ctx or n_ubatch{or_else}",
        each.join("; ")
    )
}

pub(super) fn gib(bytes: u64) -> String {
    format!("{:.2} GiB", bytes as f64 / GIB as f64)
}

impl From<PlanError> for LlamaError {
    fn from(err: PlanError) -> Self {
        match err {
            PlanError::Llama(inner) => inner,
            other => LlamaError::Plan(Box::new(other)),
        }
    }
}
