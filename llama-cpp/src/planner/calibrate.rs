//! The host side of the decode model fitted to decode speeds measured on the
//! machine: [`SpeedModel::calibrate_decode`].
//!
//! The reference constants come from one machine and one CPU build; on the
//! H200 the CUDA build's own CPU backend (AMX compiled in) decoded 11–26%
//! slower than they predict (docs/PLANNER-BENCHMARKS.md, issue 13). A few decode
//! speeds measured with llama.cpp's own placements (`--cpu-moe`,
//! `--n-cpu-moe N`) or with earlier plans fix the two constants that differ
//! most between machines: the host decode bandwidth and the cost of each
//! round trip to experts in host memory (one per host layer when the biases
//! follow their matrices, one per host matrix when they stay on the GPU).
//!
//! The prompt side of the model depends on the model more than on the
//! machine: how many of the host experts a ubatch copies follows from how
//! the model routes a prompt. A few prompt speeds measured with host experts
//! fix that share, the routing spread: [`SpeedModel::calibrate_prompt`].

use super::layout::{ExpertPart, ModelLayout};
use super::plan::Plan;
use super::setup::Setup;
use super::speed::{
    copied_share, host_decode_bytes, SpeedModel, SpeedPrediction, Traffic, Workload,
};
use super::{setup_traffic, ExpertBiases};
use crate::routing::RoutingStats;

/// Which routed experts a measured placement kept in host memory; every
/// other weight was on the GPU.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostExperts {
    /// llama.cpp's `--n-cpu-moe N`: every expert tensor of layers `0..N`,
    /// biases included. `N` of the layer count or more is `--cpu-moe`.
    FirstLayers(u32),
    /// These expert matrices, `(layer, part)`, their biases on the GPU: a
    /// plan's [`Plan::host_experts`] made with [`ExpertBiases::Gpu`].
    Matrices(Vec<(u32, ExpertPart)>),
    /// These expert matrices, `(layer, part)`, with their biases: a plan's
    /// [`Plan::host_experts`] made with [`ExpertBiases::FollowMatrices`] (the
    /// default).
    MatricesWithBiases(Vec<(u32, ExpertPart)>),
}

/// One decode speed measured on the machine, and the placement it was
/// measured with.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodePoint {
    /// The experts that were in host memory.
    pub host: HostExperts,
    /// Measured generated tokens per second.
    pub decode_tps: f64,
}

impl DecodePoint {
    /// A decode speed measured with `--cpu-moe`.
    pub fn cpu_moe(decode_tps: f64) -> Self {
        Self::n_cpu_moe(u32::MAX, decode_tps)
    }

    /// A decode speed measured with `--n-cpu-moe n`.
    pub fn n_cpu_moe(n: u32, decode_tps: f64) -> Self {
        Self {
            host: HostExperts::FirstLayers(n),
            decode_tps,
        }
    }

    /// A decode speed measured with `plan` applied. The plan's own host
    /// experts count, not the caller's overrides it was made around.
    pub fn plan(plan: &Plan, decode_tps: f64) -> Self {
        Self {
            host: HostExperts::of_plan(plan),
            decode_tps,
        }
    }
}

impl HostExperts {
    /// The host experts of `plan`, its biases where it put them.
    pub fn of_plan(plan: &Plan) -> Self {
        let matrices = plan.host_experts.clone();
        match plan.expert_biases {
            ExpertBiases::FollowMatrices => Self::MatricesWithBiases(matrices),
            ExpertBiases::Gpu => Self::Matrices(matrices),
        }
    }
}

/// One prompt speed measured on the machine, the placement it was measured
/// with, and the prompt's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptPoint {
    /// The experts that were in host memory.
    pub host: HostExperts,
    /// Tokens of the measured prompt.
    pub prompt_tokens: u32,
    /// The ubatch size it was processed in (llama.cpp's `-ub`).
    pub n_ubatch: u32,
    /// Measured prompt tokens per second.
    pub prompt_tps: f64,
}

impl PromptPoint {
    /// A prompt speed measured with `--cpu-moe`.
    pub fn cpu_moe(prompt_tokens: u32, n_ubatch: u32, prompt_tps: f64) -> Self {
        Self::n_cpu_moe(u32::MAX, prompt_tokens, n_ubatch, prompt_tps)
    }

    /// A prompt speed measured with `--n-cpu-moe n`.
    pub fn n_cpu_moe(n: u32, prompt_tokens: u32, n_ubatch: u32, prompt_tps: f64) -> Self {
        Self {
            host: HostExperts::FirstLayers(n),
            prompt_tokens,
            n_ubatch,
            prompt_tps,
        }
    }

    /// A prompt speed measured with `plan` applied. The plan's own host
    /// experts count, not the caller's overrides it was made around.
    pub fn plan(plan: &Plan, prompt_tokens: u32, n_ubatch: u32, prompt_tps: f64) -> Self {
        Self {
            host: HostExperts::of_plan(plan),
            prompt_tokens,
            n_ubatch,
            prompt_tps,
        }
    }
}

/// Why [`SpeedModel::calibrate_decode`] or [`SpeedModel::calibrate_prompt`]
/// gave no model.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CalibrationError {
    /// The list of points was empty.
    #[error("no measured speed to calibrate with")]
    NoPoints,
    /// A speed that is not a positive finite number.
    #[error("point {index}: speed {tps} t/s is not a positive finite number")]
    InvalidSpeed {
        /// Index of the point.
        index: usize,
        /// The speed given.
        tps: f64,
    },
    /// A placement with no expert of this model in host memory says nothing
    /// about the host.
    #[error(
        "point {index}: that placement keeps no expert matrix of this model in host memory, \
         so its speed says nothing about the host experts; measure one that does (--cpu-moe)"
    )]
    NoHostExperts {
        /// Index of the point.
        index: usize,
    },
    /// A prompt point with no tokens or no ubatch size.
    #[error(
        "point {index}: a prompt of {prompt_tokens} tokens in ubatches of {n_ubatch} is not a \
         measurement; give the measured prompt's token count and ubatch size, both positive"
    )]
    InvalidPrompt {
        /// Index of the point.
        index: usize,
        /// The prompt tokens given.
        prompt_tokens: u32,
        /// The ubatch size given.
        n_ubatch: u32,
    },
    /// A routing record with no ubatch of two or more tokens in a MoE layer.
    #[error(
        "the routing record holds no MoE layer's ubatch of two or more tokens; probe a prompt \
         of two or more tokens with a MoE model"
    )]
    NoRouting,
    /// A routing record of another model: its experts per token or ids do
    /// not fit this layout.
    #[error(
        "layer {layer}: the routing record has {per_token} experts per token and expert ids up \
         to {max_id}, this model {n_expert_used} of {n_expert}; was it recorded with this model?"
    )]
    RoutingMismatch {
        /// The layer whose record does not fit.
        layer: u32,
        /// Experts per token in the record.
        per_token: u32,
        /// Largest expert id in the record.
        max_id: usize,
        /// Experts per token of this model.
        n_expert_used: u32,
        /// Experts per layer of this model.
        n_expert: u32,
    },
    /// The points are no slower than the GPU alone would be.
    #[error(
        "the measured decode speeds are no slower than the model's GPU time alone predicts, so \
         no finite host bandwidth fits them; were they measured with these placements and this \
         model?"
    )]
    NoBandwidth,
}

impl SpeedModel {
    /// These constants with the host decode bandwidth and the cost per round
    /// trip to the host experts fitted to decode speeds measured on the
    /// machine, by least squares of the seconds per token, both constants
    /// non-negative.
    ///
    /// The GPU constants stay as they are: what they predict for the GPU's
    /// part of each point is subtracted first. Two constants need two points
    /// whose bytes per round trip differ (a plan whose boundary layer is
    /// split, or one with its biases on the GPU, against `--n-cpu-moe N`);
    /// with one point, or points that all hold whole layers of one size
    /// (`--cpu-moe` and `--n-cpu-moe N` of a model whose MoE layers are
    /// alike), only the bandwidth is fitted and the cost per round trip is
    /// kept (set to 0 if keeping it leaves no positive bandwidth).
    ///
    /// ```
    /// use llama_cpp_moe::planner::{DecodePoint, ModelLayout, SpeedModel};
    ///
    /// // Two MoE layers, 4 experts of which 1 is used, 1 MB per matrix.
    /// let mut tensors = Vec::new();
    /// for layer in 0..2 {
    ///     for part in ["gate", "up", "down"] {
    ///         tensors.push((format!("blk.{layer}.ffn_{part}_exps.weight"), 1 << 20, 1_000_000));
    ///     }
    /// }
    /// let layout = ModelLayout::from_parts(
    ///     [2, 4, 1],
    ///     4096,
    ///     tensors.iter().map(|(n, e, b)| (n.as_str(), *e, *b)),
    /// );
    /// let model = SpeedModel::h200_reference()
    ///     .calibrate_decode(&layout, &[DecodePoint::cpu_moe(1000.0)])?;
    /// assert!(model.host_decode_bandwidth < SpeedModel::h200_reference().host_decode_bandwidth);
    /// # Ok::<(), llama_cpp_moe::planner::CalibrationError>(())
    /// ```
    pub fn calibrate_decode(
        self,
        layout: &ModelLayout,
        points: &[DecodePoint],
    ) -> Result<Self, CalibrationError> {
        if points.is_empty() {
            return Err(CalibrationError::NoPoints);
        }
        let mut rows = Vec::with_capacity(points.len());
        for (index, point) in points.iter().enumerate() {
            let tps = point.decode_tps;
            if !(tps.is_finite() && tps > 0.0) {
                return Err(CalibrationError::InvalidSpeed { index, tps });
            }
            let traffic = point_traffic(layout, &point.host);
            if traffic.host_round_trips == 0 {
                return Err(CalibrationError::NoHostExperts { index });
            }
            rows.push(Row {
                layers: f64::from(traffic.host_round_trips),
                bytes: host_decode_bytes(layout, &traffic),
                seconds: 1.0 / tps - self.decode_gpu_seconds(layout, &traffic),
            });
        }
        let (overhead, seconds_per_byte) =
            fit(&rows, self.host_decode_layer_overhead).ok_or(CalibrationError::NoBandwidth)?;
        Ok(Self {
            host_decode_bandwidth: 1.0 / seconds_per_byte,
            host_decode_layer_overhead: overhead,
            ..self
        })
    }
}

impl SpeedModel {
    /// These constants with the [routing spread](SpeedModel::routing_spread)
    /// fitted to prompt speeds measured on the machine: the spread in
    /// `[f, 1]` (`f` the share of experts one token uses) whose predicted
    /// prompt seconds are closest to the measured ones, by the sum of
    /// squared relative errors. Every other constant stays as it is, except
    /// the host→GPU bandwidth where the prompts are slower than uniform
    /// routing predicts (below).
    ///
    /// The predicted seconds rise with the spread, so a prompt faster than
    /// uniform routing predicts narrows it; one faster than every token on
    /// the same experts predicts gives `f`. One slower than even uniform
    /// routing predicts gives 1 and lowers the host→GPU bandwidth to fit
    /// instead, never below a tenth of it: the reference's 55.5 GB/s is the
    /// H200's PCIe 5.0, and a PCIe 4.0 card copies about half as fast. The
    /// search is a log-spaced grid over `[f, 1]` (the bandwidth's share:
    /// `[0.1, 1]`) refined by golden sections around its best point; where
    /// values fit equally well, the largest is kept (the slower prediction
    /// for a spread, the reference for the bandwidth).
    ///
    /// The spread absorbs whatever else the prompt side gets wrong: measure
    /// the host→GPU bandwidth and the GPU's prompt constants first where they
    /// may differ from [`SpeedModel::h200_reference`]'s. Points whose host
    /// experts are a large share of the prompt's time (`--cpu-moe`, ubatches
    /// of 512 tokens or more) fix it best.
    ///
    /// A random-weight model's spread is that of its random router: it
    /// tells whether the planner predicts that file's prompts, and that the
    /// bytes a ubatch copies follow the routing, but nothing about the model
    /// with trained weights of the same shape, whose routing follows the
    /// text (a random Qwen3-30B-A3B sent nearly every token to the same ~12
    /// of 128 experts per layer; a trained one spreads wider and differs by
    /// layer and prompt). Calibrate a trained model on prompts like the
    /// ones it will serve. The spread is one number for all layers: a plan
    /// that moves other layers to the host than the measured placements
    /// did inherits their average.
    ///
    /// ```
    /// use llama_cpp_moe::planner::{ModelLayout, PromptPoint, SpeedModel};
    ///
    /// // Two MoE layers, 4 experts of which 1 is used, 100 MB per matrix.
    /// let mut tensors = Vec::new();
    /// for layer in 0..2 {
    ///     for part in ["gate", "up", "down"] {
    ///         tensors.push((format!("blk.{layer}.ffn_{part}_exps.weight"), 50_000_000, 100_000_000));
    ///     }
    /// }
    /// let layout = ModelLayout::from_parts(
    ///     [2, 4, 1],
    ///     4096,
    ///     tensors.iter().map(|(n, e, b)| (n.as_str(), *e, *b)),
    /// );
    /// // With --cpu-moe, uniform routing predicts 41,000 t/s on 512 tokens
    /// // (12.4 ms, 10.8 of them copying all 600 MB of experts); 60,000 t/s
    /// // measured leaves 6.9 ms of copies: 64% of the experts.
    /// let point = PromptPoint::cpu_moe(512, 512, 60_000.0);
    /// let model = SpeedModel::h200_reference().calibrate_prompt(&layout, &[point])?;
    /// assert!((model.routing_spread - 0.64).abs() < 0.01);
    /// # Ok::<(), llama_cpp_moe::planner::CalibrationError>(())
    /// ```
    pub fn calibrate_prompt(
        self,
        layout: &ModelLayout,
        points: &[PromptPoint],
    ) -> Result<Self, CalibrationError> {
        if points.is_empty() {
            return Err(CalibrationError::NoPoints);
        }
        let mut rows = Vec::with_capacity(points.len());
        for (index, point) in points.iter().enumerate() {
            let tps = point.prompt_tps;
            if !(tps.is_finite() && tps > 0.0) {
                return Err(CalibrationError::InvalidSpeed { index, tps });
            }
            let (prompt_tokens, n_ubatch) = (point.prompt_tokens, point.n_ubatch);
            if prompt_tokens == 0 || n_ubatch == 0 {
                return Err(CalibrationError::InvalidPrompt {
                    index,
                    prompt_tokens,
                    n_ubatch,
                });
            }
            let traffic = point_traffic(layout, &point.host);
            if traffic.host_expert_bytes == 0 {
                return Err(CalibrationError::NoHostExperts { index });
            }
            rows.push((traffic, point, f64::from(prompt_tokens) / tps));
        }
        let error = |model: Self| -> f64 {
            (rows.iter())
                .map(|(traffic, p, seconds)| {
                    let predicted =
                        model.prompt_seconds(layout, traffic, p.prompt_tokens, p.n_ubatch);
                    (predicted / seconds - 1.0).powi(2)
                })
                .sum()
        };
        let spread = |s: f64| Self {
            routing_spread: s,
            ..self
        };
        let one = minimise(|s| error(spread(s)), layout.active_fraction());
        if one < 1.0 {
            return Ok(spread(one));
        }
        // Slower than uniform routing over every expert: what is left is
        // the copy, slower on this host than the bandwidth says.
        let uniform = spread(1.0);
        let at = |share: f64| Self {
            host_to_gpu_bandwidth: uniform.host_to_gpu_bandwidth * share,
            ..uniform
        };
        Ok(at(minimise(|r| error(at(r)), MIN_BANDWIDTH_SHARE)))
    }
}

/// The least share of its host→GPU bandwidth that
/// [`SpeedModel::calibrate_prompt`] fits to prompts slower than uniform
/// routing predicts.
const MIN_BANDWIDTH_SHARE: f64 = 0.1;

impl SpeedModel {
    /// These constants with the routing spread fitted to a
    /// [`RoutingProbe`](crate::routing::RoutingProbe)'s record of this model:
    /// the distinct experts each ubatch of a MoE layer routed to, against
    /// [the copied share](SpeedModel::routing_spread) the spread predicts for
    /// a ubatch of that size, by least squares over every ubatch of two or
    /// more tokens (the last layer, which llama.cpp computes only for tokens
    /// that output logits, mostly has fewer). No GPU is needed: the probe
    /// can run on the CPU with the prompts to come.
    ///
    /// ```
    /// use llama_cpp_moe::planner::{ModelLayout, SpeedModel};
    /// use llama_cpp_moe::routing::{LayerRouting, RoutingStats, UbatchRouting};
    ///
    /// // Two MoE layers of 128 experts, 8 used per token.
    /// let mut tensors = Vec::new();
    /// for layer in 0..2 {
    ///     for part in ["gate", "up", "down"] {
    ///         tensors.push((format!("blk.{layer}.ffn_{part}_exps.weight"), 1 << 20, 1_000_000));
    ///     }
    /// }
    /// let layout = ModelLayout::from_parts(
    ///     [2, 128, 8],
    ///     4096,
    ///     tensors.iter().map(|(n, e, b)| (n.as_str(), *e, *b)),
    /// );
    /// // Every 512-token ubatch of both layers routed to the same 8 experts.
    /// let mut stats = RoutingStats::default();
    /// for layer in 0..2 {
    ///     stats.layers.insert(layer, LayerRouting {
    ///         experts_per_token: 8,
    ///         tokens_per_expert: vec![512; 8],
    ///         ubatches: vec![UbatchRouting { tokens: 512, distinct: 8 }],
    ///     });
    /// }
    /// let model = SpeedModel::h200_reference().calibrate_routing(&layout, &stats)?;
    /// assert_eq!(model.routing_spread, 8.0 / 128.0);
    /// # Ok::<(), llama_cpp_moe::planner::CalibrationError>(())
    /// ```
    pub fn calibrate_routing(
        self,
        layout: &ModelLayout,
        stats: &RoutingStats,
    ) -> Result<Self, CalibrationError> {
        let used = layout.active_fraction();
        let n_expert = f64::from(layout.n_expert.max(1));
        let mut rows = Vec::new();
        for (&layer, routing) in &stats.layers {
            let max_id = routing.tokens_per_expert.len().saturating_sub(1);
            if routing.experts_per_token != layout.n_expert_used
                || routing.tokens_per_expert.len() > layout.n_expert as usize
            {
                return Err(CalibrationError::RoutingMismatch {
                    layer,
                    per_token: routing.experts_per_token,
                    max_id,
                    n_expert_used: layout.n_expert_used,
                    n_expert: layout.n_expert,
                });
            }
            rows.extend(
                (routing.ubatches.iter())
                    .filter(|u| u.tokens >= 2)
                    .map(|u| (u.tokens, f64::from(u.distinct) / n_expert)),
            );
        }
        if rows.is_empty() {
            return Err(CalibrationError::NoRouting);
        }
        let error = |spread: f64| -> f64 {
            (rows.iter())
                .map(|&(tokens, share)| (copied_share(used, spread, tokens) - share).powi(2))
                .sum()
        };
        Ok(Self {
            routing_spread: minimise(error, used),
            ..self
        })
    }
}

/// The spread in `[lowest, 1]` where `error` is least: the best of a
/// log-spaced grid, refined by golden sections between its neighbours;
/// ties go to the wider spread. 1 when `lowest` leaves nothing to choose.
fn minimise(error: impl Fn(f64) -> f64, lowest: f64) -> f64 {
    const GRID: usize = 64;
    if !(lowest > 0.0 && lowest < 1.0) {
        return 1.0;
    }
    // lowest^(1 - i/(GRID-1)): lowest at 0, exactly 1 at the end.
    let grid: Vec<f64> = (0..GRID)
        .map(|i| {
            let rest = (GRID - 1 - i) as f64 / (GRID - 1) as f64;
            lowest.powf(rest)
        })
        .collect();
    let errors: Vec<f64> = grid.iter().map(|&s| error(s)).collect();
    // Widest first, so that a tie keeps the wider spread.
    let best = (0..GRID)
        .rev()
        .fold(GRID - 1, |b, i| if errors[i] < errors[b] { i } else { b });
    let (mut a, mut b) = (grid[best.saturating_sub(1)], grid[(best + 1).min(GRID - 1)]);
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let mut c = b - ratio * (b - a);
    let mut d = a + ratio * (b - a);
    let (mut ec, mut ed) = (error(c), error(d));
    for _ in 0..200 {
        if b - a <= 1e-12 * b {
            break;
        }
        if ec < ed {
            (b, d, ed) = (d, c, ec);
            c = b - ratio * (b - a);
            ec = error(c);
        } else {
            (a, c, ec) = (c, d, ed);
            d = a + ratio * (b - a);
            ed = error(d);
        }
    }
    // Within rounding of a bound is the bound.
    let refined = match (a + b) / 2.0 {
        s if s - lowest <= 1e-9 => lowest,
        s if 1.0 - s <= 1e-9 => 1.0,
        s => s,
    };
    if error(refined) < errors[best] {
        refined
    } else {
        grid[best]
    }
}

/// One point as the fit sees it: the host's share of a token's time.
struct Row {
    /// Round trips to the host experts per token.
    layers: f64,
    /// Bytes the CPU reads per token.
    bytes: f64,
    /// Measured seconds per token less the GPU's predicted part.
    seconds: f64,
}

/// `seconds = overhead · layers + seconds_per_byte · bytes` by least squares,
/// `overhead ≥ 0`, `seconds_per_byte > 0`: `(overhead, seconds_per_byte)`,
/// or `None` when no positive `seconds_per_byte` fits. `kept_overhead` is
/// used where the rows cannot tell the two apart.
fn fit(rows: &[Row], kept_overhead: f64) -> Option<(f64, f64)> {
    let sum = |f: &dyn Fn(&Row) -> f64| rows.iter().map(f).sum::<f64>();
    let s_ll = sum(&|r| r.layers * r.layers);
    let s_lb = sum(&|r| r.layers * r.bytes);
    let s_bb = sum(&|r| r.bytes * r.bytes);
    let s_ly = sum(&|r| r.layers * r.seconds);
    let s_by = sum(&|r| r.bytes * r.seconds);
    // Bandwidth alone, with the overhead fixed at `overhead`.
    let with_overhead = |overhead: f64| {
        let per_byte = (s_by - overhead * s_lb) / s_bb;
        (per_byte > 0.0).then_some((overhead, per_byte))
    };
    // By Cauchy-Schwarz det ≥ 0, and 0 (up to rounding) exactly when every
    // row has the same bytes per layer.
    let det = s_ll * s_bb - s_lb * s_lb;
    if det > 1e-9 * s_ll * s_bb {
        let overhead = (s_bb * s_ly - s_lb * s_by) / det;
        let per_byte = (s_ll * s_by - s_lb * s_ly) / det;
        if overhead >= 0.0 && per_byte > 0.0 {
            return Some((overhead, per_byte));
        }
        // The constrained optimum is on the edge overhead = 0.
        return with_overhead(0.0);
    }
    with_overhead(kept_overhead.max(0.0)).or_else(|| with_overhead(0.0))
}

impl SpeedModel {
    /// What these constants predict for a placement: `host` in host memory,
    /// every other weight on the GPU, prompts in ubatches of `n_ubatch`.
    /// For setting a placement measured or planned earlier against
    /// constants calibrated since, such as a plan
    /// ([`HostExperts::of_plan`]) against a calibration measured in the same
    /// minutes as the plan's rows. A plan that also lowered `n_gpu_layers`
    /// ran its first layers on the CPU whole, which this does not count.
    ///
    /// ```
    /// use llama_cpp_moe::planner::{HostExperts, ModelLayout, SpeedModel, Workload};
    ///
    /// let mut tensors = Vec::new();
    /// for layer in 0..2 {
    ///     for part in ["gate", "up", "down"] {
    ///         tensors.push((format!("blk.{layer}.ffn_{part}_exps.weight"), 50_000_000, 100_000_000));
    ///     }
    /// }
    /// let layout = ModelLayout::from_parts(
    ///     [2, 4, 1],
    ///     4096,
    ///     tensors.iter().map(|(n, e, b)| (n.as_str(), *e, *b)),
    /// );
    /// let speed = SpeedModel::default();
    /// let workload = Workload { prompt_tokens: 512, generated_tokens: 64 };
    /// let one = speed.predict_placement(&layout, &HostExperts::FirstLayers(1), 512, workload);
    /// let both = speed.predict_placement(&layout, &HostExperts::FirstLayers(2), 512, workload);
    /// assert!(both.decode_tps < one.decode_tps);
    /// ```
    pub fn predict_placement(
        &self,
        layout: &ModelLayout,
        host: &HostExperts,
        n_ubatch: u32,
        workload: Workload,
    ) -> SpeedPrediction {
        self.predict(layout, &point_traffic(layout, host), n_ubatch, workload)
    }
}

/// The bytes per token of a measured placement, everything else on one GPU:
/// the planner's own accounting ([`setup_traffic`]) of that placement.
pub(crate) fn point_traffic(layout: &ModelLayout, host: &HostExperts) -> Traffic {
    let on_host: Vec<bool> = (layout.tensors.iter())
        .map(|t| match (t.expert, t.layer, host) {
            (Some(_), Some(layer), HostExperts::FirstLayers(n)) => layer < *n,
            (Some(part), Some(layer), HostExperts::Matrices(m)) => {
                !t.is_bias && m.contains(&(layer, part))
            }
            (Some(part), Some(layer), HostExperts::MatricesWithBiases(m)) => {
                m.contains(&(layer, part))
            }
            _ => false,
        })
        .collect();
    let every_layer_on_one_gpu = Setup::from_rules(layout, -1, &[u64::MAX], |_| None);
    setup_traffic(layout, &every_layer_on_one_gpu, &on_host)
}

#[cfg(test)]
mod tests;
