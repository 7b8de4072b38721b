//! The planner's answer, [`Plan`], and the builder calls that apply it.

use super::{DeviceBytes, ExpertBiases, ExpertPart, SpeedModel, SpeedPrediction, Workload};
use crate::{BufferType, LlamaContextParams, LlamaError, LlamaModelParams};
use std::fmt;
use std::num::NonZeroU32;

/// A GPU's share of the plan, from llama.cpp's accounting of the dry run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedDevice {
    /// ggml's device name (`CUDA0`, ...).
    pub name: String,
    /// The budget it was planned for.
    pub budget: u64,
    /// Predicted bytes: weights, KV cache, compute buffers.
    pub bytes: DeviceBytes,
    /// What the plan keeps free beside [`PlannedDevice::bytes`] for the
    /// memory llama.cpp's accounting does not see ([`Planner::reserve`]).
    ///
    /// [`Planner::reserve`]: super::Planner::reserve
    pub reserve: u64,
}

impl PlannedDevice {
    /// The predicted peak use of a process that loads the plan: the dry
    /// run's buffers plus the reserve. The CUDA backend's memory pool grows
    /// while computing and the kernels and cuBLAS it loads on first use take
    /// memory too; on the H200 the two came to 0.17–0.23 GiB over the
    /// buffers in a fresh process (docs/PLANNER-BENCHMARKS.md), which the default
    /// reserve covers.
    pub fn peak(&self) -> u64 {
        self.bytes.total().saturating_add(self.reserve)
    }
}

/// The planner's answer. Apply it with [`LlamaModelParams::with_plan`] and
/// [`LlamaContextParams::with_plan`].
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Override patterns sending expert tensors to host memory, to be tried
    /// after the caller's own.
    pub overrides: Vec<String>,
    /// Context length, where the caller left it unset.
    pub n_ctx: Option<NonZeroU32>,
    /// Logical batch, where the planner chose the ubatch.
    pub n_batch: Option<u32>,
    /// Physical batch, where the caller left it at llama.cpp's default.
    pub n_ubatch: Option<u32>,
    /// The shape planned for: `(n_ctx, n_batch, n_ubatch)` in effect.
    pub shape: (u32, u32, u32),
    /// Per planned GPU: budget and predicted bytes.
    pub devices: Vec<PlannedDevice>,
    /// Predicted host bytes (weights, KV, compute) of llama.cpp's buffers.
    pub host: DeviceBytes,
    /// The expert matrices the plan sends to the host: `(layer, part)`.
    pub host_experts: Vec<(u32, ExpertPart)>,
    /// Layers to offload, where the caller left `n_gpu_layers` unset and
    /// moving every expert was not enough: llama.cpp offloads the last
    /// `n_gpu_layers` (the output layer counting as one), so the first
    /// layers run on the CPU whole.
    pub n_gpu_layers: Option<u32>,
    /// Where the biases of [`Plan::host_experts`] are.
    pub expert_biases: ExpertBiases,
    /// Bytes of routed experts in host memory (the plan's and the caller's).
    pub host_expert_bytes: u64,
    /// Predicted speed for the workload.
    pub speed: SpeedPrediction,
    /// The machine constants the prediction used, kept with the plan so a
    /// measurement can be set against them (and the constants recalibrated).
    pub speed_model: SpeedModel,
    /// The workload whose time the plan minimised.
    pub workload: Workload,
    /// Why the plan is what it is, one line each.
    pub reasons: Vec<String>,
    /// The caller's override patterns the plan was made around.
    pub(super) caller_overrides: Vec<String>,
}

impl Plan {
    /// A plan for a model with no GPU to place on: nothing to do.
    pub(super) fn host_only(reason: &str, caller_overrides: Vec<String>) -> Self {
        Self {
            overrides: Vec::new(),
            n_ctx: None,
            n_batch: None,
            n_ubatch: None,
            shape: (0, 0, 0),
            devices: Vec::new(),
            host: DeviceBytes::default(),
            host_experts: Vec::new(),
            n_gpu_layers: None,
            expert_biases: ExpertBiases::default(),
            host_expert_bytes: 0,
            speed_model: SpeedModel::default(),
            workload: Workload::default(),
            speed: SpeedPrediction {
                prompt_tps: f64::NAN,
                decode_tps: f64::NAN,
                workload_seconds: f64::NAN,
            },
            reasons: vec![reason.to_owned()],
            caller_overrides,
        }
    }

    /// The caller's override patterns the plan was made around.
    pub fn caller_overrides(&self) -> &[String] {
        &self.caller_overrides
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "plan overrides: {}",
            if self.overrides.is_empty() {
                "none".to_owned()
            } else {
                self.overrides
                    .iter()
                    .map(|p| format!("{p}=CPU"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        )?;
        if self.devices.is_empty() {
            // Nothing was planned: the reasons say why.
            for reason in &self.reasons {
                writeln!(f, "  - {reason}")?;
            }
            return Ok(());
        }
        let (n_ctx, n_batch, n_ubatch) = self.shape;
        writeln!(
            f,
            "shape: n_ctx {n_ctx}, n_batch {n_batch}, n_ubatch {n_ubatch}"
        )?;
        if let Some(n) = self.n_gpu_layers {
            writeln!(f, "n_gpu_layers: {n} (the first layers run on the CPU)")?;
        }
        writeln!(
            f,
            "predicted: prompt {:.0} t/s, decode {:.1} t/s",
            self.speed.prompt_tps, self.speed.decode_tps
        )?;
        for reason in &self.reasons {
            writeln!(f, "  - {reason}")?;
        }
        Ok(())
    }
}

impl LlamaModelParams {
    /// These params with `plan` applied: its overrides after the caller's,
    /// and its `n_gpu_layers` where it chose one.
    ///
    /// The params must carry the same overrides as those the plan was made
    /// from, and leave `n_gpu_layers` unset where the plan chose it; anything
    /// else is an error, so a plan is never applied on top of a placement it
    /// did not account for.
    pub fn with_plan(self, plan: &Plan) -> crate::Result<Self> {
        let current: Vec<&str> = self
            .tensor_overrides()
            .iter()
            .map(|o| o.pattern())
            .collect();
        if current
            != plan
                .caller_overrides
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
        {
            return Err(LlamaError::InvalidParameter {
                name: "plan",
                reason: format!(
                    "the plan was made for the overrides [{}], these params have [{}]",
                    plan.caller_overrides.join(", "),
                    current.join(", ")
                ),
            });
        }
        let mut params = self;
        if let Some(n) = plan.n_gpu_layers {
            let unset = LlamaModelParams::default().n_gpu_layers();
            if params.n_gpu_layers() != unset {
                return Err(LlamaError::InvalidParameter {
                    name: "plan",
                    reason: format!(
                        "the plan chose n_gpu_layers {n} for params that left it unset ({unset}), \
                         these params set it to {}",
                        params.n_gpu_layers()
                    ),
                });
            }
            params = params.with_n_gpu_layers(n);
        }
        for pattern in &plan.overrides {
            params = params.with_tensor_override(pattern, BufferType::Cpu)?;
        }
        Ok(params)
    }
}

impl LlamaContextParams {
    /// These params with the context length and batch sizes the plan chose
    /// (only those the caller had left unset).
    pub fn with_plan(self, plan: &Plan) -> Self {
        let mut params = self;
        if let Some(n_ctx) = plan.n_ctx {
            params = params.with_n_ctx(Some(n_ctx));
        }
        if let Some(n_batch) = plan.n_batch {
            params = params.with_n_batch(n_batch);
        }
        if let Some(n_ubatch) = plan.n_ubatch {
            params = params.with_n_ubatch(n_ubatch);
        }
        params
    }
}
