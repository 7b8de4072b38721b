//! Predicted prompt and decode speed of a placement: a roofline of bytes
//! moved, with constants measured on one machine and replaceable by the
//! caller's own ([`SpeedModel`]).
//!
//! * Prompt, per ubatch of `t` tokens: the host experts the ubatch routes to
//!   are copied to the GPU (op offload) at the host→GPU bandwidth, then the
//!   GPU computes `t` tokens: 2 FLOPs per active parameter, and attention over
//!   the tokens before them ([`ModelLayout`]'s query width: 63 ms of a
//!   4,096-token Qwen3-30B-A3B prompt on the H200, the part the model missed
//!   before it counted attention). The two add up: ggml b10200 copies a layer's
//!   experts after reading the router's choice and computes afterwards. The
//!   share routed to is [`copied_share`]: `t` tokens, each picking a
//!   fraction `f` of the experts, spread uniformly over a share `s` of them
//!   (the [routing spread](SpeedModel::routing_spread)), use
//!   `s · (1 − (1 − f/s)^t)`. Uniform routing over every expert (`s = 1`)
//!   copies nearly all of them once `t` is a few hundred; a router that
//!   sends every token to the same ~12 of 128 experts (a random-weight
//!   Qwen3-30B-A3B on the H200) copies ~9.5% and prompts 2–4.5× faster.
//! * Decode, per token: the CPU reads the active host experts at the
//!   effective host memory bandwidth, the GPU reads its active weights, each
//!   layer costs a fixed launch/synchronisation overhead, and each round
//!   trip of the activations between GPU and CPU that host experts cause a
//!   fixed cost ([`host_round_trips`]: one per layer with expert matrices in
//!   host memory, split or whole, when their biases are with them; one per
//!   host matrix whose bias stayed on the GPU).
//!
//! The host side differs most between machines and CPU builds: fit it to the
//! decode speeds of a few placements measured on the machine with
//! [`SpeedModel::calibrate_decode`]. The routing spread differs between
//! models: fit it to measured prompt speeds with
//! [`SpeedModel::calibrate_prompt`].

use super::layout::ModelLayout;

/// The machine constants of the speed prediction.
///
/// [`SpeedModel::h200_reference`] holds the values measured on the project's
/// H200 machine (docs/BENCHMARKS.md); on another machine, measure the
/// host→GPU bandwidth (`scripts/gpu/h2d_bandwidth.cu`) and set it here, and
/// fit the host decode constants to measured decode speeds with
/// [`SpeedModel::calibrate_decode`] (`--cpu-moe` and one `--n-cpu-moe N`),
/// and the model's routing spread to measured prompt speeds with
/// [`SpeedModel::calibrate_prompt`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpeedModel {
    /// Bytes per second copied from pinned host memory to the GPU.
    pub host_to_gpu_bandwidth: f64,
    /// Bytes per second the CPU backend reads expert weights while decoding.
    pub host_decode_bandwidth: f64,
    /// Seconds per decoded token for each round trip that expert matrices
    /// in host memory cause (activations to the CPU, its thread pool woken,
    /// the result back to the GPU: two graph splits), whatever the bytes.
    /// A layer with host experts makes one when their biases are with them,
    /// whether the layer is split or whole; a host matrix whose bias stays
    /// on the GPU makes one of its own (GPT-OSS-20B, every expert on the
    /// host: 146 splits per token with the biases on the GPU, 50 with them).
    pub host_decode_layer_overhead: f64,
    /// Bytes per second the GPU reads weights while decoding.
    pub gpu_decode_bandwidth: f64,
    /// Seconds of fixed cost per layer and decoded token on the GPU.
    pub gpu_decode_layer_overhead: f64,
    /// Floating-point operations per second the GPU sustains on a prompt.
    pub gpu_prompt_flops: f64,
    /// Seconds of fixed cost per layer and ubatch on the GPU.
    pub gpu_prompt_layer_overhead: f64,
    /// The share of a layer's experts that prompt tokens route to, routing
    /// uniform within that share: 1 is uniform routing over every expert.
    /// A ubatch of `t` tokens copies `s · (1 − (1 − f/s)^t)` of the host
    /// experts, `f` the share one token uses (top-k of n: k/n), so at most
    /// `s`. Used clamped to `[f, 1]`: at `s = f` every token picks the same
    /// experts, and a smaller share could not hold one token's choice. A
    /// property of the model (and the prompt) rather than the machine; fit
    /// it to measured prompt speeds with [`SpeedModel::calibrate_prompt`].
    pub routing_spread: f64,
}

impl SpeedModel {
    /// The constants of the project's H200 machine (PCIe 5.0 x16, one
    /// 16-core Xeon socket), fitted to the GPT-OSS-20B rows of
    /// docs/BENCHMARKS.md:
    ///
    /// * host→GPU 55.5 GB/s: `cudaMemcpyAsync` of 1 GiB from pinned memory.
    /// * host decode 52 GB/s and 0 per host layer: decode time against host
    ///   expert bytes read per token is a line through `--cpu-moe` (1.27 GB,
    ///   27.9 ms) and `--n-cpu-moe 12` (0.64 GB, 15.8 ms) whose intercept,
    ///   3.7 ms, is the all-GPU time per token: 1.01 ms per host layer of
    ///   52.9 MB read. (The 92 GB/s STREAM triad over-predicts.) Those rows
    ///   cannot split the 1.01 ms between bandwidth and a fixed cost per
    ///   layer: every host layer holds the same bytes, so `c + 52.9 MB / B`
    ///   is one number. The planner's run (docs/PLANNER-BENCHMARKS.md, issue 13),
    ///   whose plans also hold a third of a boundary layer, fits a negative
    ///   fixed cost by least squares, i.e. none above its noise, so the
    ///   reference charges the whole 1.01 ms to bandwidth. That run's CPU
    ///   build (AMX compiled in) decodes slower: [`SpeedModel::calibrate_decode`]
    ///   on its 16 rows gives 39 GB/s and every row within 15% (0.90–1.12 of
    ///   the prediction, against 0.71–0.89 with these constants); on its
    ///   `--n-cpu-moe N` rows alone 37.5 GB/s, the plans within 16%.
    /// * GPU decode: 4.0 TB/s and 0.11 ms per layer reproduce the all-GPU
    ///   3.7 ms of GPT-OSS-20B (24 layers) and, within 10%, DeepSeek,
    ///   Qwen3 and Phi-3.5-MoE.
    /// * GPU prompt: 105 TFLOP/s (2 per active parameter) and 0.45 ms per
    ///   layer and ubatch reproduce the all-GPU prompts of 512 (45.8 ms) and
    ///   2,048 tokens (150.8 ms). Fitted before the model counted attention,
    ///   which adds 0.5 and 7.9 ms to those two (GPT-OSS-20B's sliding-window
    ///   layers counted as full): 1% and 5% high.
    /// * Routing spread 1, uniform over every expert: GPT-OSS-20B's random
    ///   weights route evenly enough that a 512-token ubatch copies all its
    ///   host experts.
    ///
    /// With them the `--cpu-moe` prompt is the 10.2 GB of experts copied
    /// (183 ms) plus that compute: 229 ms predicted, 234 ms measured on 512
    /// tokens, 334 against 341 ms on 2,048.
    pub fn h200_reference() -> Self {
        Self {
            host_to_gpu_bandwidth: 55.5e9,
            host_decode_bandwidth: 52e9,
            host_decode_layer_overhead: 0.0,
            gpu_decode_bandwidth: 4.0e12,
            gpu_decode_layer_overhead: 0.11e-3,
            gpu_prompt_flops: 105e12,
            gpu_prompt_layer_overhead: 0.45e-3,
            routing_spread: 1.0,
        }
    }
}

impl Default for SpeedModel {
    fn default() -> Self {
        Self::h200_reference()
    }
}

/// What the caller will run: the plan minimises its predicted time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workload {
    /// Tokens of a typical prompt.
    pub prompt_tokens: u32,
    /// Tokens generated per prompt.
    pub generated_tokens: u32,
}

impl Default for Workload {
    /// A chat turn: a 2,048-token prompt and a 256-token answer.
    fn default() -> Self {
        Self {
            prompt_tokens: 2048,
            generated_tokens: 256,
        }
    }
}

/// Predicted speed of a placement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpeedPrediction {
    /// Prompt tokens per second for the workload's prompt.
    pub prompt_tps: f64,
    /// Generated tokens per second.
    pub decode_tps: f64,
    /// Seconds for the workload: its prompt and its generated tokens.
    pub workload_seconds: f64,
}

/// The bytes of a placement that the speed depends on.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Traffic {
    /// Routed-expert bytes in host memory (copied per ubatch as used).
    pub host_expert_bytes: u64,
    /// Other bytes in host memory that layers compute with (copied whole).
    pub host_dense_bytes: u64,
    /// Routed-expert bytes on the GPUs.
    pub gpu_expert_bytes: u64,
    /// Other weights on the GPUs, all read per token.
    pub gpu_dense_bytes: u64,
    /// Round trips between GPU and CPU per decoded token that routed
    /// experts moved off a GPU layer cause: [`host_round_trips`].
    pub host_round_trips: u32,
}

/// Round trips per decoded token of the routed experts moved off GPU layers
/// (by a plan or the caller's overrides; a layer wholly on the CPU has none).
/// `moved` says which tensors left a GPU layer, `on_host` which tensors are
/// in host memory.
///
/// llama.cpp's MoE graph computes `up`, `gate` (each with its bias add), the
/// activation, then `down`, and the scheduler runs an op where its weights
/// are. With the biases beside their matrices a layer's host matrices run in
/// one stretch on the CPU, whichever of them moved: one round trip. A bias
/// left on the GPU brings the activations back after its matrix: one round
/// trip per such host matrix.
pub(crate) fn host_round_trips(
    layout: &ModelLayout,
    moved: impl Fn(usize) -> bool,
    on_host: impl Fn(usize) -> bool,
) -> u32 {
    use std::collections::{BTreeMap, BTreeSet};
    let gpu_bias: BTreeSet<_> = (layout.tensors.iter().enumerate())
        .filter(|(i, t)| t.is_bias && !on_host(*i))
        .filter_map(|(_, t)| Some((t.layer?, t.expert?)))
        .collect();
    // Per layer: matrices whose bias stayed on a GPU.
    let mut layers: BTreeMap<u32, u32> = BTreeMap::new();
    for (i, t) in layout.tensors.iter().enumerate() {
        let (Some(layer), Some(part), false) = (t.layer, t.expert, t.is_bias) else {
            continue;
        };
        if moved(i) {
            *layers.entry(layer).or_default() += u32::from(gpu_bias.contains(&(layer, part)));
        }
    }
    layers.values().map(|&split| split.max(1)).sum()
}

/// Parameters used per token (2 FLOPs each): dense tensors other than the
/// input embeddings (a row lookup), plus the active share of the experts.
pub(crate) fn active_params(layout: &ModelLayout) -> f64 {
    let frac = layout.active_fraction();
    layout
        .tensors
        .iter()
        .filter(|t| !crate::offload::is_input_tensor(&t.name))
        .map(|t| {
            if t.expert.is_some() {
                t.n_elements as f64 * frac
            } else {
                t.n_elements as f64
            }
        })
        .sum()
}

/// Bytes the CPU reads per decoded token: the active share of the host
/// experts and every other host weight a layer computes with.
pub(crate) fn host_decode_bytes(layout: &ModelLayout, traffic: &Traffic) -> f64 {
    traffic.host_expert_bytes as f64 * layout.active_fraction() + traffic.host_dense_bytes as f64
}

/// The share of a layer's experts that `tokens` tokens route to, each token
/// using a share `used` of them (top-k of n: k/n), routing uniform over a
/// share `spread` of the experts: `s · (1 − (1 − used/s)^tokens)` with `s`
/// the spread clamped to `[used, 1]` (at `s = used` every token picks the
/// same experts; NaN counts as 1, uniform over all). Within the share an
/// expert is idle for one token with probability `1 − used/s`, for
/// `tokens` tokens `(1 − used/s)^tokens`. Rises with the spread.
pub(crate) fn copied_share(used: f64, spread: f64, tokens: u32) -> f64 {
    let used = used.clamp(0.0, 1.0);
    let s = if spread.is_nan() {
        1.0
    } else {
        spread.clamp(used, 1.0)
    };
    if s == 0.0 {
        return 0.0;
    }
    let idle = (1.0 - used / s).max(0.0);
    s * (1.0 - idle.powi(tokens.min(i32::MAX as u32) as i32))
}

impl SpeedModel {
    /// Seconds per decoded token.
    pub(crate) fn decode_seconds(&self, layout: &ModelLayout, traffic: &Traffic) -> f64 {
        self.decode_gpu_seconds(layout, traffic)
            + host_decode_bytes(layout, traffic) / self.host_decode_bandwidth
            + f64::from(traffic.host_round_trips) * self.host_decode_layer_overhead
    }

    /// The GPU's part of a decoded token: its weights read, its layers run.
    pub(crate) fn decode_gpu_seconds(&self, layout: &ModelLayout, traffic: &Traffic) -> f64 {
        let frac = layout.active_fraction();
        (traffic.gpu_expert_bytes as f64 * frac + traffic.gpu_dense_bytes as f64)
            / self.gpu_decode_bandwidth
            + f64::from(layout.n_layer) * self.gpu_decode_layer_overhead
    }

    /// Seconds for a prompt of `tokens` in ubatches of `n_ubatch`.
    pub(crate) fn prompt_seconds(
        &self,
        layout: &ModelLayout,
        traffic: &Traffic,
        tokens: u32,
        n_ubatch: u32,
    ) -> f64 {
        let n_ubatch = n_ubatch.max(1);
        let flops_per_token = 2.0 * active_params(layout);
        let attention_width = layout.attention_width();
        // A ubatch of `t` tokens after `start` earlier ones.
        let ubatch = |t: u32, start: u32| {
            let used = copied_share(layout.active_fraction(), self.routing_spread, t);
            let copied = traffic.host_expert_bytes as f64 * used + traffic.host_dense_bytes as f64;
            // Causal attention: token i of the ubatch sees start + i + 1 keys.
            let (t, start) = (f64::from(t), f64::from(start));
            let attention = 4.0 * attention_width * t * (start + (t + 1.0) / 2.0);
            copied / self.host_to_gpu_bandwidth
                + (t * flops_per_token + attention) / self.gpu_prompt_flops
                + f64::from(layout.n_layer) * self.gpu_prompt_layer_overhead
        };
        let full = tokens / n_ubatch;
        let rest = tokens % n_ubatch;
        let mut seconds: f64 = (0..full).map(|i| ubatch(n_ubatch, i * n_ubatch)).sum();
        if rest > 0 {
            seconds += ubatch(rest, full * n_ubatch);
        }
        seconds
    }

    /// Prompt and decode speed, and the workload's time.
    pub(crate) fn predict(
        &self,
        layout: &ModelLayout,
        traffic: &Traffic,
        n_ubatch: u32,
        workload: Workload,
    ) -> SpeedPrediction {
        let prompt = self.prompt_seconds(layout, traffic, workload.prompt_tokens, n_ubatch);
        let decode = self.decode_seconds(layout, traffic);
        SpeedPrediction {
            prompt_tps: if prompt > 0.0 {
                f64::from(workload.prompt_tokens) / prompt
            } else {
                0.0
            },
            decode_tps: 1.0 / decode,
            workload_seconds: prompt + f64::from(workload.generated_tokens) * decode,
        }
    }
}
