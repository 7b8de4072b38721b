//! The host side of the decode model fitted to decode speeds measured on the
//! machine: [`SpeedModel::calibrate_decode`].
//!
//! The reference constants come from one machine and one CPU build; on the
//! H200 the CUDA build's own CPU backend (AMX compiled in) decoded 11–26%
//! slower than they predict (docs/BENCHMARKS.md, issue 13). A few decode
//! speeds measured with llama.cpp's own placements (`--cpu-moe`,
//! `--n-cpu-moe N`) or with earlier plans fix the two constants that differ
//! most between machines: the host decode bandwidth and the cost of each
//! round trip to experts in host memory (one per host layer when the biases
//! follow their matrices, one per host matrix when they stay on the GPU).

use super::layout::{ExpertPart, ModelLayout};
use super::plan::Plan;
use super::setup::Setup;
use super::speed::{host_decode_bytes, SpeedModel, Traffic};
use super::{setup_traffic, ExpertBiases};

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
        let matrices = plan.host_experts.clone();
        let host = match plan.expert_biases {
            ExpertBiases::FollowMatrices => HostExperts::MatricesWithBiases(matrices),
            ExpertBiases::Gpu => HostExperts::Matrices(matrices),
        };
        Self { host, decode_tps }
    }
}

/// Why [`SpeedModel::calibrate_decode`] gave no model.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CalibrationError {
    /// The list of points was empty.
    #[error("no measured decode speed to calibrate with")]
    NoPoints,
    /// A speed that is not a positive finite number.
    #[error("point {index}: decode speed {tps} t/s is not a positive finite number")]
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
         so its speed says nothing about host decode; measure one that does (--cpu-moe)"
    )]
    NoHostExperts {
        /// Index of the point.
        index: usize,
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
