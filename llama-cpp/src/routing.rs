//! [`RoutingProbe`]: which routed experts a model's router picks, per MoE
//! layer and ubatch, recorded while a context decodes.
//!
//! With experts in host memory every ubatch of a prompt copies the experts
//! its tokens route to, so a layer whose tokens share few experts costs less
//! to keep on the host. Trained models route later layers more narrowly
//! (ik_llama.cpp #2262), random-weight models often route every token to the
//! same few experts; the probe measures it instead of assuming it. The
//! placement planner can take the result.
//!
//! It reads llama.cpp's `ffn_moe_topk-<layer>` node (the chosen expert ids,
//! `[n_expert_used, n_tokens]` of `I32`) through the scheduler's evaluation
//! callback. Asking for a node makes the scheduler stop and synchronise
//! there, so a probed context decodes slower: probe on a separate context.
//!
//! ```no_run
//! use llama_cpp_moe::routing::RoutingProbe;
//! use llama_cpp_moe::{AddBos, LlamaBackend, LlamaBatch, LlamaContextParams, LlamaModel, LlamaModelParams};
//!
//! let backend = LlamaBackend::init()?;
//! let model = LlamaModel::load_from_file(&backend, "moe.gguf", &LlamaModelParams::default())?;
//! let probe = RoutingProbe::new();
//! let params = LlamaContextParams::default().with_routing_probe(&probe);
//! let mut ctx = model.new_context(&backend, params)?;
//! let tokens = model.str_to_token("A prompt like the ones to come", AddBos::Always)?;
//! let mut batch = LlamaBatch::new(tokens.len(), 1);
//! batch.add_sequence(&tokens, 0, false)?;
//! ctx.decode(&mut batch)?;
//! for (layer, routing) in &probe.stats().layers {
//!     println!("layer {layer}: {:.2} distinct experts per ubatch", routing.mean_distinct());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::sys;
use std::collections::BTreeMap;
use std::ffi::CStr;
use std::sync::{Arc, Mutex, PoisonError};

/// The name prefix llama.cpp gives the chosen expert ids of a layer
/// (`cb(selected_experts, "ffn_moe_topk", il)` in llama-graph.cpp).
const TOPK_PREFIX: &str = "ffn_moe_topk-";

/// Records the experts each MoE layer's router chooses while the contexts
/// created with [`crate::LlamaContextParams::with_routing_probe`] decode.
/// Clones share one record.
#[derive(Debug, Clone, Default)]
pub struct RoutingProbe {
    state: Arc<ProbeState>,
}

#[derive(Debug, Default)]
pub(crate) struct ProbeState {
    stats: Mutex<RoutingStats>,
}

/// What a [`RoutingProbe`] recorded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoutingStats {
    /// Per MoE layer (by index), what its router chose.
    pub layers: BTreeMap<u32, LayerRouting>,
    /// Ids nodes that could not be read (an unexpected type or shape): the
    /// record is incomplete when this is not zero.
    pub unreadable: u64,
}

/// The routing of one layer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LayerRouting {
    /// Experts each token chose (`n_expert_used`).
    pub experts_per_token: u32,
    /// How many tokens chose each expert, indexed by expert id (as long as
    /// the largest id seen + 1).
    pub tokens_per_expert: Vec<u64>,
    /// Per ubatch computed: its tokens and the distinct experts they chose.
    /// llama.cpp computes the last layer only for the tokens that output
    /// logits, so there a prompt's ubatches hold those alone (0 in a ubatch
    /// without one): with experts in host memory, the last layer's are the
    /// cheapest to copy.
    pub ubatches: Vec<UbatchRouting>,
}

/// The routing of one layer in one ubatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UbatchRouting {
    /// Tokens in the ubatch.
    pub tokens: u32,
    /// Distinct experts they chose.
    pub distinct: u32,
}

impl LayerRouting {
    /// Mean number of distinct experts per ubatch (0 with none recorded).
    pub fn mean_distinct(&self) -> f64 {
        if self.ubatches.is_empty() {
            return 0.0;
        }
        let sum: f64 = self.ubatches.iter().map(|u| f64::from(u.distinct)).sum();
        sum / self.ubatches.len() as f64
    }

    fn record(&mut self, ids: &[i32], per_token: usize) {
        let n_tokens = ids.len() / per_token;
        self.experts_per_token = per_token as u32;
        let mut seen = vec![false; self.tokens_per_expert.len()];
        let mut distinct = 0u32;
        for &id in ids {
            let id = id as usize;
            if id >= self.tokens_per_expert.len() {
                self.tokens_per_expert.resize(id + 1, 0);
                seen.resize(id + 1, false);
            }
            self.tokens_per_expert[id] += 1;
            if !seen[id] {
                seen[id] = true;
                distinct += 1;
            }
        }
        self.ubatches.push(UbatchRouting {
            tokens: n_tokens as u32,
            distinct,
        });
    }
}

impl RoutingProbe {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of what has been recorded so far.
    pub fn stats(&self) -> RoutingStats {
        self.state.lock().clone()
    }

    /// Forgets what has been recorded.
    pub fn reset(&self) {
        *self.state.lock() = RoutingStats::default();
    }

    /// The pointer llama.cpp passes back to [`eval_trampoline`]: the shared
    /// state, kept alive by the params and by every context made with them.
    pub(crate) fn user_data(&self) -> *mut std::os::raw::c_void {
        Arc::as_ptr(&self.state).cast_mut().cast()
    }
}

impl ProbeState {
    fn lock(&self) -> std::sync::MutexGuard<'_, RoutingStats> {
        // A panic while recording (caught in the trampoline) leaves a
        // consistent record: every update is a push or an increment.
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The layer of a chosen-experts node, from its name.
fn topk_layer(name: &CStr) -> Option<u32> {
    name.to_str().ok()?.strip_prefix(TOPK_PREFIX)?.parse().ok()
}

/// The scheduler's evaluation callback. With `ask` it says whether it wants
/// the node (chosen expert ids only); without, it records the node and lets
/// the computation go on. Never unwinds into llama.cpp.
pub(crate) extern "C" fn eval_trampoline(
    tensor: *mut sys::ggml_tensor,
    ask: bool,
    user_data: *mut std::os::raw::c_void,
) -> bool {
    let result = std::panic::catch_unwind(|| {
        // SAFETY: the scheduler passes a live node of the graph it computes.
        let tensor = unsafe { &*tensor };
        // SAFETY: ggml names are NUL-terminated within the 64-byte array
        // (ggml_set_name/ggml_format_name truncate and terminate).
        let name = unsafe { CStr::from_ptr(tensor.name.as_ptr()) };
        let Some(layer) = topk_layer(name) else {
            // Not wanted; when not asking, keep computing.
            return !ask;
        };
        if ask {
            return true;
        }
        // SAFETY: user_data is the ProbeState of the RoutingProbe the
        // context was made with; the context keeps a clone of it, so it
        // outlives every callback.
        let state = unsafe { &*(user_data as *const ProbeState) };
        let mut stats = state.lock();
        match read_ids(tensor) {
            Some((ids, per_token)) => stats
                .layers
                .entry(layer)
                .or_default()
                .record(&ids, per_token),
            None => stats.unreadable += 1,
        }
        true
    });
    // A panic here is a bug in this file; computing on is what llama.cpp
    // would do without the probe.
    result.unwrap_or(true)
}

/// The ids of a `[n_expert_used, n_tokens]` I32 node, strides honoured (the
/// node is a view of the argsort), and `n_expert_used`.
fn read_ids(tensor: &sys::ggml_tensor) -> Option<(Vec<i32>, usize)> {
    if tensor.type_ != sys::GGML_TYPE_I32 || tensor.ne[2] != 1 || tensor.ne[3] != 1 {
        return None;
    }
    let per_token = usize::try_from(tensor.ne[0]).ok().filter(|&k| k > 0)?;
    let n_tokens = usize::try_from(tensor.ne[1]).ok()?;
    if n_tokens == 0 {
        // The last layer of a ubatch with no output token: llama.cpp
        // computes nothing there.
        return Some((Vec::new(), per_token));
    }
    let [nb0, nb1, ..] = tensor.nb;
    if tensor.buffer.is_null() || nb0 < 4 {
        return None;
    }
    // The bytes from the first element to the end of the last, as
    // ggml_nbytes counts them for a type of block size 1.
    let span = (per_token - 1)
        .checked_mul(nb0)?
        .checked_add((n_tokens - 1).checked_mul(nb1)?)?
        .checked_add(4)?;
    let mut bytes = vec![0u8; span];
    // SAFETY: the node is computed (the scheduler calls back after
    // computing it) and has a buffer; span is ggml_nbytes of it, so the read
    // stays inside the tensor, and `bytes` holds span bytes.
    unsafe { sys::ggml_backend_tensor_get(tensor, bytes.as_mut_ptr().cast(), 0, span) };
    let mut ids = Vec::with_capacity(per_token * n_tokens);
    for token in 0..n_tokens {
        for k in 0..per_token {
            let at = token * nb1 + k * nb0;
            let id = i32::from_ne_bytes(bytes[at..at + 4].try_into().ok()?);
            if id < 0 {
                return None;
            }
            ids.push(id);
        }
    }
    Some((ids, per_token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_from_node_name() {
        assert_eq!(topk_layer(c"ffn_moe_topk-0"), Some(0));
        assert_eq!(topk_layer(c"ffn_moe_topk-47"), Some(47));
        assert_eq!(topk_layer(c"ffn_moe_argsort-3"), None);
        assert_eq!(topk_layer(c"ffn_moe_topk"), None);
        assert_eq!(topk_layer(c"ffn_moe_topk-x"), None);
    }

    #[test]
    fn record_counts_tokens_and_distinct_experts() {
        let mut layer = LayerRouting::default();
        // 3 tokens, 2 experts each: {1,4}, {4,2}, {1,4}.
        layer.record(&[1, 4, 4, 2, 1, 4], 2);
        layer.record(&[0, 1], 2);
        assert_eq!(layer.experts_per_token, 2);
        assert_eq!(layer.tokens_per_expert, vec![1, 3, 1, 0, 3]);
        assert_eq!(
            layer.ubatches,
            vec![
                UbatchRouting {
                    tokens: 3,
                    distinct: 3
                },
                UbatchRouting {
                    tokens: 1,
                    distinct: 2
                }
            ]
        );
        assert!((layer.mean_distinct() - 2.5).abs() < 1e-12);
    }
}
