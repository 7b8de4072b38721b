//! The placement planner: the fastest placement of a Mixture-of-Experts model
//! that fits a VRAM budget, found and checked before the weights load.
//!
//! Picking `--n-cpu-moe N` by hand either leaves speed unused (`--cpu-moe` on
//! an 8 GB card) or runs out of memory. [`Planner::plan`] takes the model
//! file, the model and context params the caller set, and a [`Budget`] per
//! GPU, and returns a [`Plan`]:
//!
//! * which expert matrices go to host memory: by default the **last layers'
//!   first** for prompt-heavy workloads (later layers route more narrowly, so
//!   fewer of their experts are copied per ubatch) and the **first layers'**
//!   for decode-heavy ones such as a chat turn ([`ExpertOrder`]), one
//!   boundary layer split per matrix (down, then gate, then up), expert
//!   biases with their matrices unless asked otherwise;
//! * `n_ctx` and `n_ubatch` where the caller left them at their defaults,
//!   and `n_gpu_layers` where the caller left it at llama.cpp's default and
//!   moving every expert is not enough (below);
//! * the bytes per device from **llama.cpp's own accounting** of the final
//!   placement (a `no_alloc` dry run: nothing allocated, no weight read);
//! * the predicted prompt and decode speed ([`SpeedModel`]) and the reasons.
//!
//! The plan moves routed experts first: attention, router and KV cache on
//! the GPU are what make an offloaded MoE fast. Only when every expert it may
//! move is in host memory and a GPU is still over its budget does it lower
//! `n_gpu_layers` (llama.cpp offloads the last `n_gpu_layers` layers, so the
//! first ones then run on the CPU whole, as llama.cpp's own fit does), to the
//! largest count that fits by the dry runs, and only where the caller left it
//! at llama.cpp's default (-1): a caller's `with_n_gpu_layers` is kept, and a
//! budget that cannot hold that is an error. The speed of layers on the CPU
//! is predicted without their attention over the KV cache (optimistic; the
//! plan says so). By default the speed model assumes a prompt routes
//! uniformly over every expert, so that a long ubatch copies nearly all host
//! experts; models that route a prompt to fewer experts (trained ones, and
//! some random-weight ones: a random Qwen3-30B-A3B copied ~9.5% per ubatch
//! on the H200) prompt faster than that. Its routing spread, the share of
//! experts a prompt routes to, is fitted to measured prompt speeds with
//! [`SpeedModel::calibrate_prompt`] ([`PromptPoint`]), as the host decode
//! constants are to measured decode speeds with
//! [`SpeedModel::calibrate_decode`].
//!
//! The caller's tensor overrides are kept, tried first by the loader and
//! planned around; one the plan cannot honour is an error, never dropped. A
//! budget that nothing fits is [`PlanError::BudgetTooSmall`], which names the
//! smallest budget that works: with one GPU layer (the output) where the
//! planner may lower `n_gpu_layers`, with the caller's count otherwise.
//!
//! ```no_run
//! use llama_cpp_moe::planner::{Budget, Planner};
//! use llama_cpp_moe::{LlamaBackend, LlamaContextParams, LlamaModel, LlamaModelParams, LoadMode};
//!
//! let backend = LlamaBackend::init()?;
//! let path = "models/gpt-oss-20b.gguf";
//! let params = LlamaModelParams::default().with_load_mode(LoadMode::Read);
//! let ctx_params = LlamaContextParams::default().with_n_outputs_max(1);
//! let plan = Planner::new(path)
//!     .budget(Budget::bytes_per_device([8 << 30]))
//!     .plan(&params, &ctx_params)?;
//! println!("{plan}");
//! let model = LlamaModel::load_from_file(&backend, path, &params.with_plan(&plan)?)?;
//! let ctx = model.new_context(&backend, ctx_params.with_plan(&plan))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod biases;
mod calibrate;
mod error;
mod layers;
mod layout;
mod order;
mod patterns;
mod plan;
mod probe;
mod reasons;
mod search;
mod setup;
mod speed;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_ngl;
#[cfg(test)]
mod tests_order;
#[cfg(test)]
mod tests_splits;

pub use biases::ExpertBiases;
pub use calibrate::{CalibrationError, DecodePoint, HostExperts, PromptPoint};
pub use error::{PlanError, Shortfall};
pub use layout::{ExpertPart, LayoutTensor, ModelLayout};
pub use order::ExpertOrder;
pub use plan::{Plan, PlannedDevice};
pub use search::DeviceBytes;
pub use speed::{SpeedModel, SpeedPrediction, Workload};

use crate::devices::gpu_devices;
use crate::gguf::GgufFile;
use crate::{LlamaBackend, LlamaContextParams, LlamaError, LlamaModelParams, LoadMode};
use error::gib;
use layout::Slot;
use reasons::{describe_host, describe_lowered};
use search::{Candidate, Measured, MemoryProbe, Outcome, Problem};
use setup::Setup;
use speed::Traffic;
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

/// One gibibyte.
pub const GIB: u64 = 1 << 30;

/// How much memory of each GPU the plan may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Budget {
    /// Each GPU's free memory at planning time minus this margin (llama.cpp's
    /// `--fit` keeps 1 GiB).
    FreeMinusMargin(u64),
    /// These bytes per GPU, in the order of the planned GPUs.
    BytesPerDevice(Vec<u64>),
}

impl Budget {
    /// Free memory minus `margin` bytes on every GPU.
    pub fn free_minus_margin(margin: u64) -> Self {
        Self::FreeMinusMargin(margin)
    }

    /// Explicit bytes per GPU, in the order of the planned GPUs.
    pub fn bytes_per_device(bytes: impl Into<Vec<u64>>) -> Self {
        Self::BytesPerDevice(bytes.into())
    }

    fn resolve(&self, gpus: &[(String, u64)]) -> Result<Vec<u64>, PlanError> {
        match self {
            Self::FreeMinusMargin(margin) => Ok(gpus
                .iter()
                .map(|(_, free)| free.saturating_sub(*margin))
                .collect()),
            Self::BytesPerDevice(bytes) if bytes.len() == gpus.len() => Ok(bytes.clone()),
            Self::BytesPerDevice(bytes) => Err(PlanError::BudgetDevices {
                given: bytes.len(),
                gpus: gpus.iter().map(|(name, _)| name.clone()).collect(),
            }),
        }
    }
}

impl Default for Budget {
    /// llama.cpp's default margin: free memory minus 1 GiB.
    fn default() -> Self {
        Self::FreeMinusMargin(GIB)
    }
}

/// Finds the fastest placement within a budget. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Planner {
    path: PathBuf,
    budget: Budget,
    speed: SpeedModel,
    workload: Workload,
    expert_biases: ExpertBiases,
    expert_order: ExpertOrder,
    ubatch_choices: Vec<u32>,
    default_n_ctx: u32,
    reserve: u64,
    /// Whether the reserve grows with ubatches past [`RESERVE_UBATCH`]
    /// (the default's), or is the caller's fixed figure.
    reserve_grows: bool,
}

/// The ubatch sizes tried when the caller leaves `n_ubatch` unset: with host
/// experts every ubatch copies the experts it uses, so larger ones speed up
/// long prompts, at the cost of compute-buffer VRAM.
pub const UBATCH_CHOICES: [u32; 4] = [512, 2048, 4096, 8192];

/// VRAM kept free of llama.cpp's buffers on every GPU by default: its
/// accounting covers weights, KV cache and compute buffers, but the CUDA
/// backend's memory pool grows while computing and the kernels it loads on
/// first use take memory too (0.17–0.23 GiB over the buffers in a fresh
/// process on the H200, GPT-OSS-20B and Qwen3-30B-A3B shapes, ubatch 2048;
/// docs/PLANNER-BENCHMARKS.md), and the budget is for the peak.
pub const DEFAULT_RESERVE: u64 = 256 << 20;

/// The ubatch the default reserve was measured at: up to it the reserve is
/// [`DEFAULT_RESERVE`], past it [`RESERVE_PER_UBATCH_TOKEN`] more per token.
pub const RESERVE_UBATCH: u32 = 2048;

/// The default reserve's growth per ubatch token past [`RESERVE_UBATCH`]:
/// the memory over the buffers grew by 14–17 KiB per token from 512- to
/// 2,048-token ubatches on the H200 (both models, docs/PLANNER-BENCHMARKS.md), and
/// is taken at about twice that where nothing was measured.
pub const RESERVE_PER_UBATCH_TOKEN: u64 = 32 << 10;

/// The context length planned when the caller leaves it unset (capped at
/// the training length): room for a long prompt and its answer. The training
/// length of today's MoE models (128k) would need gigabytes of KV cache that
/// would otherwise hold experts.
pub const DEFAULT_N_CTX: u32 = 4096;

impl Planner {
    /// A planner for the GGUF model at `path`, with the default budget (free
    /// memory minus 1 GiB), speed model, workload and ubatch choices.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            budget: Budget::default(),
            speed: SpeedModel::default(),
            workload: Workload::default(),
            expert_biases: ExpertBiases::default(),
            expert_order: ExpertOrder::default(),
            ubatch_choices: UBATCH_CHOICES.to_vec(),
            default_n_ctx: DEFAULT_N_CTX,
            reserve: DEFAULT_RESERVE,
            reserve_grows: true,
        }
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The memory the plan may use per GPU.
    pub fn budget(mut self, budget: Budget) -> Self {
        self.budget = budget;
        self
    }

    /// The machine constants of the speed prediction.
    pub fn speed_model(mut self, speed: SpeedModel) -> Self {
        self.speed = speed;
        self
    }

    /// The prompt and answer lengths whose total time the plan minimises.
    pub fn workload(mut self, workload: Workload) -> Self {
        self.workload = workload;
        self
    }

    /// Where expert biases go (default: with their matrices).
    pub fn expert_biases(mut self, biases: ExpertBiases) -> Self {
        self.expert_biases = biases;
        self
    }

    /// Which layers' experts leave the GPU first (default: by the
    /// [workload](Self::workload), [`ExpertOrder::ByWorkload`]).
    pub fn expert_order(mut self, order: ExpertOrder) -> Self {
        self.expert_order = order;
        self
    }

    /// The ubatch sizes to try when the caller leaves `n_ubatch` unset.
    /// Zeros are ignored; an empty list keeps llama.cpp's default.
    pub fn ubatch_choices(mut self, choices: &[u32]) -> Self {
        self.ubatch_choices = choices.iter().copied().filter(|&u| u > 0).collect();
        self
    }

    /// VRAM per GPU kept out of the plan for what llama.cpp's accounting
    /// does not see (the backend's memory pool and the kernels it loads),
    /// `bytes` whatever the ubatch. By default [`DEFAULT_RESERVE`], growing
    /// past [`RESERVE_UBATCH`] ([`Planner::reserve_for`]). It is part of the
    /// predicted peak, [`PlannedDevice::peak`].
    pub fn reserve(mut self, bytes: u64) -> Self {
        self.reserve = bytes;
        self.reserve_grows = false;
        self
    }

    /// The reserve per GPU for ubatches of `n_ubatch` tokens: the CUDA
    /// pool holds per-token temporaries of the largest ubatch.
    ///
    /// ```
    /// use llama_cpp_moe::planner::{Planner, DEFAULT_RESERVE, RESERVE_PER_UBATCH_TOKEN};
    ///
    /// let planner = Planner::new("model.gguf");
    /// assert_eq!(planner.reserve_for(512), DEFAULT_RESERVE);
    /// assert_eq!(planner.reserve_for(2048), DEFAULT_RESERVE);
    /// assert_eq!(planner.reserve_for(8192), DEFAULT_RESERVE + 6144 * RESERVE_PER_UBATCH_TOKEN);
    /// assert_eq!(planner.reserve(1 << 30).reserve_for(8192), 1 << 30);
    /// ```
    pub fn reserve_for(&self, n_ubatch: u32) -> u64 {
        if !self.reserve_grows {
            return self.reserve;
        }
        let past = u64::from(n_ubatch.saturating_sub(RESERVE_UBATCH));
        self.reserve
            .saturating_add(past.saturating_mul(RESERVE_PER_UBATCH_TOKEN))
    }

    /// The context length to plan when the caller leaves `n_ctx` unset.
    pub fn default_n_ctx(mut self, n_ctx: u32) -> Self {
        self.default_n_ctx = n_ctx.max(1);
        self
    }

    /// Each GPU `params` would load onto, by name, with its budget in bytes,
    /// in the loader's order, resolved now as [`plan`](Self::plan) resolves
    /// it: empty without a GPU or with `n_gpu_layers` 0, whatever the budget
    /// (as `plan` then keeps every weight in host memory). The names are
    /// those [`dry_run`](Self::dry_run) reports bytes under.
    pub fn budget_bytes(&self, params: &LlamaModelParams) -> Result<Vec<(String, u64)>, PlanError> {
        let gpus = planned_gpus(params);
        if gpus.is_empty() {
            return Ok(Vec::new());
        }
        let budgets = self.budget.resolve(&gpus)?;
        Ok(gpus
            .into_iter()
            .map(|(name, _)| name)
            .zip(budgets)
            .collect())
    }

    /// llama.cpp's accounting of `params` and `ctx_params` as they are, per
    /// device (`CPU` for host memory), from a `no_alloc` dry run: what a load
    /// would allocate, without allocating or reading weights. Useful to check
    /// a hand-made placement against a budget.
    pub fn dry_run(
        &self,
        params: &LlamaModelParams,
        ctx_params: &LlamaContextParams,
    ) -> Result<BTreeMap<String, DeviceBytes>, PlanError> {
        let backend = LlamaBackend::init()?;
        let params = params.clone().with_load_mode(LoadMode::Read);
        probe::dry_run(&backend, &self.path, &params, ctx_params)
    }

    /// Plans `params` and `ctx_params` (as the caller set them) within the
    /// budget, checking the answer with llama.cpp's `no_alloc` dry run.
    ///
    /// With no GPU (or `n_gpu_layers` 0) there is nothing to place: the plan
    /// is empty and says so.
    pub fn plan(
        &self,
        params: &LlamaModelParams,
        ctx_params: &LlamaContextParams,
    ) -> Result<Plan, PlanError> {
        let backend = LlamaBackend::init()?;
        let file = GgufFile::open(&self.path).map_err(LlamaError::from)?;
        let layout = ModelLayout::from_gguf(&file);
        if !layout.is_moe() {
            return Err(PlanError::NotMoe {
                path: self.path.clone(),
            });
        }
        let gpus = planned_gpus(params);
        let caller: Vec<String> = params
            .tensor_overrides()
            .iter()
            .map(|o| o.pattern().to_owned())
            .collect();
        if gpus.is_empty() {
            let reason = "no GPU to place on (none found, or n_gpu_layers is 0): every weight \
                          stays in host memory";
            return Ok(Plan::host_only(reason, caller));
        }
        let names: Vec<String> = gpus.iter().map(|(name, _)| name.clone()).collect();
        let free: Vec<u64> = gpus.iter().map(|(_, free)| *free).collect();
        let budgets = self.budget.resolve(&gpus)?;
        let setup = Setup::new(&layout, params, &names, &free)?;
        let mut probe = probe::DryRun {
            backend,
            path: &self.path,
            params,
            ctx_params,
            gpu_names: &names,
            biases_follow: self.expert_biases == ExpertBiases::FollowMatrices,
        };
        self.plan_layout(
            &layout, &setup, &names, &budgets, ctx_params, caller, &mut probe,
        )
    }

    /// The plan of a layout whose starting placement is `setup`, measuring
    /// with `probe`. Everything but the probe is pure.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn plan_layout(
        &self,
        layout: &ModelLayout,
        setup: &Setup,
        names: &[String],
        budgets: &[u64],
        ctx_params: &LlamaContextParams,
        caller_overrides: Vec<String>,
        probe: &mut dyn MemoryProbe,
    ) -> Result<Plan, PlanError> {
        let mut plan_in = |order| {
            self.plan_ordered(
                order,
                layout,
                setup,
                names,
                budgets,
                ctx_params,
                caller_overrides.clone(),
                probe,
            )
        };
        let tried = self.expert_order.first_try();
        let plan = plan_in(tried)?;
        if self.expert_order != ExpertOrder::ByWorkload || plan.host_experts.is_empty() {
            return Ok(plan);
        }
        let (order, reason) = ExpertOrder::for_workload(&plan.speed, self.workload);
        let mut plan = if order == tried {
            plan
        } else {
            plan_in(order)?
        };
        // Beside the line naming the host experts.
        let at = (plan.reasons.iter())
            .position(|r| r.starts_with("experts to host memory"))
            .map_or(plan.reasons.len(), |i| i + 1);
        plan.reasons.insert(at, reason);
        Ok(plan)
    }

    /// [`plan_layout`](Self::plan_layout) with the layers' experts leaving in
    /// `order`.
    #[allow(clippy::too_many_arguments)]
    fn plan_ordered(
        &self,
        order: ExpertOrder,
        layout: &ModelLayout,
        setup: &Setup,
        names: &[String],
        budgets: &[u64],
        ctx_params: &LlamaContextParams,
        caller_overrides: Vec<String>,
        probe: &mut dyn MemoryProbe,
    ) -> Result<Plan, PlanError> {
        let biases_follow = self.expert_biases == ExpertBiases::FollowMatrices;
        let units = setup.units(layout, biases_follow, order);
        // The search sees each budget less the shape's reserve; errors and
        // the plan report the caller's budgets.
        let budgets_for = |(_, _, n_ubatch): (u32, u32, u32)| -> Vec<u64> {
            let reserve = self.reserve_for(n_ubatch);
            budgets.iter().map(|b| b.saturating_sub(reserve)).collect()
        };
        let problem_for = |shape| Problem {
            units: units.clone(),
            budgets: budgets_for(shape),
            n_gpu_layers: None,
        };
        let mut reasons = Vec::new();
        let (shapes, ctx_choice) = self.shapes(layout, ctx_params, &mut reasons);

        // Per shape that fits: its answer, and the placement with fewer GPU
        // layers where experts alone were not enough.
        let mut placed: Vec<(Outcome, Option<Setup>, Problem)> = Vec::new();
        let mut too_small = None;
        for &shape in &shapes {
            let problem = problem_for(shape);
            match search::search(&problem, probe, shape) {
                Ok(outcome) => placed.push((outcome, None, problem)),
                // The first (smallest) shape's minimum is the one to name.
                Err(e @ PlanError::BudgetTooSmall { .. }) => _ = too_small.get_or_insert(e),
                Err(other) => return Err(other),
            }
        }
        let experts_minimum = too_small.take();
        if placed.is_empty() && setup.n_gpu_layers_unset() {
            for &shape in &shapes {
                let budgets = budgets_for(shape);
                match layers::lower_n_gpu_layers(
                    layout,
                    setup,
                    &budgets,
                    biases_follow,
                    order,
                    probe,
                    shape,
                ) {
                    Ok(l) => placed.push((l.outcome, Some(l.setup), l.problem)),
                    Err(e @ PlanError::BudgetTooSmall { .. }) => _ = too_small.get_or_insert(e),
                    Err(other) => return Err(other),
                }
            }
        }
        let too_small = too_small.or(experts_minimum);

        let mut best: Option<(Outcome, Option<Setup>, Problem, Traffic, SpeedPrediction)> = None;
        let mut tried = Vec::new();
        for (outcome, lowered, problem) in placed {
            let shape = (
                outcome.candidate.n_ctx,
                outcome.candidate.n_batch,
                outcome.candidate.n_ubatch,
            );
            let at = lowered.as_ref().unwrap_or(setup);
            let traffic = traffic(layout, at, &problem, &outcome.candidate);
            let speed = self.speed.predict(layout, &traffic, shape.2, self.workload);
            let layers = match problem.n_gpu_layers {
                Some(n) => format!(", n_gpu_layers {n}"),
                None => String::new(),
            };
            tried.push(format!(
                "n_ubatch {}{layers}: {} MiB of experts on the host, {:.0} prompt t/s, {:.1} \
                 decode t/s, {:.2} s for the workload",
                shape.2,
                traffic.host_expert_bytes >> 20,
                speed.prompt_tps,
                speed.decode_tps,
                speed.workload_seconds
            ));
            if best
                .as_ref()
                .is_none_or(|b| speed.workload_seconds < b.4.workload_seconds)
            {
                best = Some((outcome, lowered, problem, traffic, speed));
            }
        }
        let Some((outcome, lowered, problem, traffic, speed)) = best else {
            return Err(match too_small {
                Some(e) => self.name_shortfalls(e, names, budgets),
                None => PlanError::Probe("no shape to plan".into()),
            });
        };
        let (n_ctx, n_batch, n_ubatch) = (
            outcome.candidate.n_ctx,
            outcome.candidate.n_batch,
            outcome.candidate.n_ubatch,
        );
        if tried.len() > 1 {
            reasons.push(format!(
                "n_ubatch {n_ubatch} is fastest for the workload ({}-token prompt, {} tokens \
                 generated) of: {}",
                self.workload.prompt_tokens,
                self.workload.generated_tokens,
                tried.join("; ")
            ));
        }
        let host_experts: Vec<(u32, ExpertPart)> = problem
            .host_units(&outcome.candidate)
            .map(|u| (u.layer, u.part))
            .collect();
        let overrides = patterns::host_patterns(&host_experts, biases_follow);
        reasons.extend(describe_host(&host_experts, layout, &traffic, order));
        if let Some(lowered) = &lowered {
            reasons.extend(describe_lowered(lowered, layout, &traffic));
        }
        if !caller_overrides.is_empty() {
            reasons.push(format!(
                "the caller's overrides are kept and tried first: {}",
                caller_overrides.join(", ")
            ));
        }
        if !host_experts.is_empty() {
            reasons.push(if biases_follow {
                "expert biases go with their matrices, as llama.cpp's --cpu-moe does (on the GPU \
                 they cost a round trip per host matrix and sped up nothing on the H200)"
                    .into()
            } else {
                "expert biases stay on the GPU, as asked (a round trip per host matrix that has \
                 a bias)"
                    .into()
            });
        }
        let Measured { gpus, host } = outcome.measured;
        let devices: Vec<PlannedDevice> = gpus
            .into_iter()
            .zip(names)
            .zip(budgets)
            .map(|((bytes, name), &budget)| PlannedDevice {
                name: name.clone(),
                budget,
                bytes,
                reserve: self.reserve_for(n_ubatch),
            })
            .collect();
        for d in &devices {
            reasons.push(format!(
                "{}: peak {} of {} budget: llama.cpp's dry run {} (weights {}, KV {}, compute {}) \
                 and {} for the backend's memory pool and kernels",
                d.name,
                gib(d.peak()),
                gib(d.budget),
                gib(d.bytes.total()),
                gib(d.bytes.weights),
                gib(d.bytes.kv),
                gib(d.bytes.compute),
                gib(d.reserve)
            ));
        }
        reasons.push(format!(
            "llama.cpp's no_alloc dry runs for this shape: {}",
            outcome.probes
        ));
        let planner_ubatch = self.chooses_ubatch(ctx_params);
        Ok(Plan {
            overrides,
            n_ctx: ctx_choice.then(|| NonZeroU32::new(n_ctx)).flatten(),
            n_batch: planner_ubatch.then_some(n_batch),
            n_ubatch: planner_ubatch.then_some(n_ubatch),
            shape: (n_ctx, n_batch, n_ubatch),
            devices,
            host,
            host_experts,
            n_gpu_layers: lowered.map(|l| l.n_gpu_layers.unsigned_abs()),
            expert_biases: self.expert_biases,
            host_expert_bytes: traffic.host_expert_bytes,
            speed,
            speed_model: self.speed,
            workload: self.workload,
            reasons,
            caller_overrides,
        })
    }

    /// `err` with the GPUs' names, the caller's budgets and the reserve in
    /// its shortfalls.
    fn name_shortfalls(&self, err: PlanError, names: &[String], budgets: &[u64]) -> PlanError {
        let PlanError::BudgetTooSmall {
            n_ctx,
            n_ubatch,
            n_gpu_layers,
            mut shortfalls,
        } = err
        else {
            return err;
        };
        for s in &mut shortfalls {
            s.device = names.get(s.gpu).cloned().unwrap_or_default();
            s.budget = budgets.get(s.gpu).copied().unwrap_or(s.budget);
            s.minimum = s.minimum.saturating_add(self.reserve_for(n_ubatch));
        }
        PlanError::BudgetTooSmall {
            n_ctx,
            n_ubatch,
            n_gpu_layers,
            shortfalls,
        }
    }

    /// Whether the caller left both batch sizes at llama.cpp's defaults (as
    /// llama.cpp's fit decides what the user set: by comparing with them).
    fn chooses_ubatch(&self, ctx_params: &LlamaContextParams) -> bool {
        let defaults = LlamaContextParams::default();
        !self.ubatch_choices.is_empty()
            && ctx_params.n_ubatch() == defaults.n_ubatch()
            && ctx_params.n_batch() == defaults.n_batch()
    }

    /// The `(n_ctx, n_batch, n_ubatch)` shapes to try, smallest ubatch first,
    /// and whether the planner chose `n_ctx`.
    fn shapes(
        &self,
        layout: &ModelLayout,
        ctx_params: &LlamaContextParams,
        reasons: &mut Vec<String>,
    ) -> (Vec<(u32, u32, u32)>, bool) {
        let n_ctx = match ctx_params.n_ctx() {
            Some(n) => n.get(),
            None => {
                let n = match layout.n_ctx_train {
                    0 => self.default_n_ctx,
                    train => self.default_n_ctx.min(train),
                };
                reasons.push(format!(
                    "n_ctx {n}: left unset by the caller; the training length ({}) would spend \
                     VRAM on KV cache that experts can use",
                    layout.n_ctx_train
                ));
                n
            }
        };
        let chosen = ctx_params.n_ctx().is_none();
        if !self.chooses_ubatch(ctx_params) {
            let n_batch = ctx_params.n_batch();
            return (
                vec![(n_ctx, n_batch, ctx_params.n_ubatch().min(n_batch))],
                chosen,
            );
        }
        let mut choices: Vec<u32> = self.ubatch_choices.iter().map(|&u| u.min(n_ctx)).collect();
        choices.sort_unstable();
        choices.dedup();
        let default_batch = ctx_params.n_batch();
        let shapes = choices
            .into_iter()
            .map(|u| (n_ctx, default_batch.max(u), u))
            .collect();
        (shapes, chosen)
    }
}

/// The GPUs the loader would use for `params`, with their free memory now.
fn planned_gpus(params: &LlamaModelParams) -> Vec<(String, u64)> {
    if params.n_gpu_layers() == 0 {
        return Vec::new();
    }
    gpu_devices()
        .into_iter()
        .filter(|d| params.devices().is_none_or(|only| only.contains(&d.index)))
        .map(|d| (d.name, d.memory_free as u64))
        .collect()
}

/// The bytes a placement moves per token and per ubatch.
fn traffic(layout: &ModelLayout, setup: &Setup, problem: &Problem, c: &Candidate) -> Traffic {
    let mut on_host = vec![false; layout.tensors.len()];
    for unit in problem.host_units(c) {
        for &i in &unit.tensors {
            on_host[i] = true;
        }
    }
    setup_traffic(layout, setup, &on_host)
}

/// The bytes `setup` moves per token and per ubatch with the tensors
/// `on_host[i]` sent to host memory on top of it.
pub(crate) fn setup_traffic(layout: &ModelLayout, setup: &Setup, on_host: &[bool]) -> Traffic {
    let host = |i: usize| on_host[i] || setup.slots[i] == Slot::Host;
    // Experts moved by the plan or the caller's overrides; where the layer
    // split alone puts them on the host the whole layer is on the CPU.
    let moved = |i: usize| on_host[i] || (setup.fixed[i] && setup.slots[i] == Slot::Host);
    let mut traffic = Traffic {
        host_round_trips: speed::host_round_trips(layout, moved, host),
        ..Traffic::default()
    };
    for (i, t) in layout.tensors.iter().enumerate() {
        match (host(i), t.expert.is_some()) {
            // The input embeddings are a row lookup, not a matrix product.
            (true, false) if crate::offload::is_input_tensor(&t.name) => {}
            (true, true) => traffic.host_expert_bytes += t.n_bytes,
            (true, false) => traffic.host_dense_bytes += t.n_bytes,
            (false, true) => traffic.gpu_expert_bytes += t.n_bytes,
            (false, false) => traffic.gpu_dense_bytes += t.n_bytes,
        }
    }
    if let Some((i, slot)) = setup.tied_output_copy {
        let bytes = layout.tensors[i].n_bytes;
        match slot {
            Slot::Host => traffic.host_dense_bytes += bytes,
            Slot::Gpu(_) => traffic.gpu_dense_bytes += bytes,
        }
    }
    traffic
}
