//! What the planner knows about a model before loading it: every tensor's
//! size and layer, and which tensors are routed experts it may move to host
//! memory. Read from the GGUF header alone (no weights).

use crate::gguf::GgufFile;
use crate::offload::split_layer_tensor;

/// One matrix of a layer's routed experts. The order of the variants is the
/// order in which they leave the GPU within a layer: `down` first, `up` last,
/// as llama.cpp's own fit does it (it gives a boundary layer back as
/// "attention + up", then "+ gate"), so the matrix the GPU keeps longest is
/// the first one a token needs.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExpertPart {
    /// `ffn_down_exps` (or `ffn_down_chexps`).
    Down,
    /// `ffn_gate_exps`.
    Gate,
    /// `ffn_gate_up_exps`: gate and up fused into one tensor.
    GateUp,
    /// `ffn_up_exps`.
    Up,
}

impl ExpertPart {
    /// The name inside `ffn_{name}_exps`, as the override patterns spell it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Down => "down",
            Self::Gate => "gate",
            Self::GateUp => "gate_up",
            Self::Up => "up",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "down" => Self::Down,
            "gate" => Self::Gate,
            "gate_up" => Self::GateUp,
            "up" => Self::Up,
            _ => return None,
        })
    }
}

/// One tensor of the model as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutTensor {
    /// GGUF name.
    pub name: String,
    /// Bytes of its data in the file.
    pub n_bytes: u64,
    /// Number of elements (parameters).
    pub n_elements: u64,
    /// Layer of a `blk.N.*` tensor.
    pub layer: Option<u32>,
    /// Which expert matrix this is (weights or bias), for routed experts.
    pub expert: Option<ExpertPart>,
    /// An expert bias (`ffn_*_exps.bias`) rather than the matrix.
    pub is_bias: bool,
}

/// The tensors of a model and the hyper-parameters the plan needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelLayout {
    /// Repeating layers (`block_count`).
    pub n_layer: u32,
    /// Routed experts per MoE layer (0 for a dense model).
    pub n_expert: u32,
    /// Experts each token uses (0 for a dense model).
    pub n_expert_used: u32,
    /// Training context length (0 when the file does not say).
    pub n_ctx_train: u32,
    /// Every tensor in file order.
    pub tensors: Vec<LayoutTensor>,
}

impl ModelLayout {
    /// Reads the layout from a parsed GGUF header.
    pub fn from_gguf(file: &GgufFile) -> Self {
        let num = |suffix: &str| {
            file.arch_value(suffix)
                .and_then(|v| v.as_u64())
                .map_or(0, |v| v.min(u32::MAX.into())) as u32
        };
        let tensors = file
            .tensors
            .iter()
            .map(|t| (t.name.as_str(), t.n_elements(), t.n_bytes()));
        Self::from_parts(
            [
                num("block_count"),
                num("expert_count"),
                num("expert_used_count"),
            ],
            num("context_length"),
            tensors,
        )
    }

    /// A layout from `[n_layer, n_expert, n_expert_used]`, the training
    /// context and `(name, n_elements, n_bytes)` per tensor: for models that
    /// exist only as a description (tests, presets).
    pub fn from_parts<'a>(
        [n_layer, n_expert, n_expert_used]: [u32; 3],
        n_ctx_train: u32,
        tensors: impl IntoIterator<Item = (&'a str, u64, u64)>,
    ) -> Self {
        let tensors = tensors
            .into_iter()
            .map(|(name, n_elements, n_bytes)| {
                let (layer, expert, is_bias) = match split_layer_tensor(name) {
                    Some((layer, rest)) => {
                        let (part, is_bias) = expert_part(rest).unzip();
                        (Some(layer), part, is_bias.unwrap_or(false))
                    }
                    None => (None, None, false),
                };
                LayoutTensor {
                    name: name.to_owned(),
                    n_bytes,
                    n_elements,
                    layer,
                    expert,
                    is_bias,
                }
            })
            .collect();
        Self {
            n_layer,
            n_expert,
            n_expert_used,
            n_ctx_train,
            tensors,
        }
    }

    /// Whether the model has routed experts the planner can move.
    pub fn is_moe(&self) -> bool {
        self.n_expert > 0 && self.tensors.iter().any(|t| t.expert.is_some())
    }

    /// Bytes of all routed-expert tensors (matrices and biases).
    pub fn expert_bytes(&self) -> u64 {
        self.tensors
            .iter()
            .filter(|t| t.expert.is_some())
            .map(|t| t.n_bytes)
            .sum()
    }

    /// Query width summed over the layers (`n_head · head_dim` each, from
    /// `attn_q.weight`'s elements over `n_embd`): attention over a context of
    /// `c` tokens costs `4 · width · c` FLOPs per token. `n_embd` comes from a
    /// router (`ffn_gate_inp.weight` is `n_embd × n_expert`), so a dense
    /// model, or one without a separate `attn_q`, counts 0. Sliding-window
    /// layers count as full attention (an over-estimate for long prompts).
    pub(crate) fn attention_width(&self) -> f64 {
        let elements = |suffix: &'static str| {
            (self.tensors.iter())
                .filter(move |t| t.layer.is_some() && t.name.ends_with(suffix))
                .map(|t| t.n_elements)
        };
        let Some(router) = elements(".ffn_gate_inp.weight").next() else {
            return 0.0;
        };
        if self.n_expert == 0 || router == 0 {
            return 0.0;
        }
        let n_embd = router as f64 / f64::from(self.n_expert);
        elements(".attn_q.weight").map(|n| n as f64 / n_embd).sum()
    }

    /// Fraction of a layer's experts one token uses.
    pub(crate) fn active_fraction(&self) -> f64 {
        if self.n_expert == 0 {
            1.0
        } else {
            f64::from(self.n_expert_used.min(self.n_expert)) / f64::from(self.n_expert)
        }
    }
}

/// `ffn_{part}_{ch|}exps.{suffix}` after `blk.N.`: the part, and whether the
/// tensor is a bias. Exactly the tensors llama.cpp's `--cpu-moe` pattern
/// (`\.ffn_(up|down|gate|gate_up)_(ch|)exps`) selects.
fn expert_part(rest: &str) -> Option<(ExpertPart, bool)> {
    let rest = rest.strip_prefix("ffn_")?;
    let (part, suffix) = rest
        .split_once("_exps")
        .or_else(|| rest.split_once("_chexps"))?;
    let part = ExpertPart::parse(part)?;
    Some((part, suffix.starts_with(".bias")))
}

/// Where a tensor is allocated in the planner's model of the loader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Slot {
    /// Host memory.
    Host,
    /// The n-th planned GPU.
    Gpu(usize),
}

/// The layer of llama.cpp's split that each repeating layer (and, at index
/// `n_layer`, the output layer) goes to, as `llama_model_base::load_tensors`
/// computes it with no `tensor_split`: layers `il >= n_layer + 1 - n_gpu_layers`
/// are spread over the GPUs in proportion to their free memory, the rest stay
/// on the host. `n_gpu_layers < 0` means all.
pub(crate) fn layer_slots(n_layer: u32, n_gpu_layers: i32, gpu_free: &[u64]) -> Vec<Slot> {
    let n_all = i64::from(n_layer);
    let ngl = if n_gpu_layers < 0 {
        n_all + 1
    } else {
        i64::from(n_gpu_layers)
    };
    let start = (n_all + 1 - ngl).max(0);
    let active = if gpu_free.is_empty() {
        0
    } else {
        ngl.min(n_all + 1)
    };
    let total: f64 = gpu_free.iter().map(|&f| f as f64).sum();
    // ggml sums in f32; the boundary cases (a layer exactly on a split point)
    // come out the same for the handful of GPUs one host has.
    let mut acc = 0.0;
    let splits: Vec<f32> = gpu_free
        .iter()
        .map(|&free| {
            acc += free as f64;
            if total > 0.0 {
                (acc / total) as f32
            } else {
                1.0
            }
        })
        .collect();
    (0..=n_all)
        .map(|il| {
            if il < start || il - start >= active {
                return Slot::Host;
            }
            let x = (il - start) as f32 / active as f32;
            // std::upper_bound: the first split point strictly above x.
            let gpu = splits.iter().position(|&s| s > x).unwrap_or(splits.len());
            Slot::Gpu(gpu.min(gpu_free.len() - 1))
        })
        .collect()
}
