//! [`LlamaContextParams`] and [`FlashAttention`]: how [`LlamaModel::new_context`]
//! creates a context. The file sits at llama-cpp-2's path
//! (`llama_cpp_2::context::params`), so code written for it finds the type here too;
//! llama-cpp-2's RoPE, pooling, attention and KV cache type enums are not provided
//! (README, "Drop-in for llama-cpp-2").

use crate::error::{LlamaError, Result};
use crate::routing::{eval_trampoline, RoutingProbe};
use crate::sys;
use crate::thread_pool::{CpuThreadPool, ThreadPoolSettings};
#[cfg(doc)]
use crate::{LlamaContext, LlamaModel};
use std::num::NonZeroU32;

/// When to use Flash Attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashAttention {
    /// llama.cpp decides per device (its default).
    Auto,
    /// Always.
    Enabled,
    /// Never.
    Disabled,
}

/// Parameters for [`LlamaModel::new_context`].
///
/// ```
/// use std::num::NonZeroU32;
/// let params = llama_cpp_moe::LlamaContextParams::default()
///     .with_n_ctx(NonZeroU32::new(4096))
///     .with_n_ubatch(2048)
///     .with_n_threads(8);
/// assert_eq!(params.n_ctx(), NonZeroU32::new(4096));
/// ```
#[derive(Debug, Clone)]
pub struct LlamaContextParams {
    pub(super) raw: sys::llama_context_params,
    pub(super) cpu_thread_pool: CpuThreadPool,
    pub(super) thread_pool_settings: ThreadPoolSettings,
    /// Owns the state `raw.cb_eval_user_data` points to, when set.
    pub(super) routing_probe: Option<RoutingProbe>,
}

// SAFETY: the struct's pointer fields stay NULL except the evaluation
// callback's: a plain function and a pointer to the RoutingProbe state this
// struct owns (`routing_probe`), which is Send + Sync (a Mutex) and freed
// only when the last params and context holding it are dropped.
unsafe impl Send for LlamaContextParams {}
// SAFETY: as above; `&self` never dereferences the pointer.
unsafe impl Sync for LlamaContextParams {}

impl Default for LlamaContextParams {
    fn default() -> Self {
        // SAFETY: returns a plain struct by value.
        let raw = unsafe { sys::llama_context_default_params() };
        Self {
            raw,
            cpu_thread_pool: CpuThreadPool::default(),
            thread_pool_settings: ThreadPoolSettings::default(),
            routing_probe: None,
        }
    }
}

impl LlamaContextParams {
    /// Context length in tokens; `None` takes the model's training length.
    pub fn with_n_ctx(mut self, n_ctx: Option<NonZeroU32>) -> Self {
        self.raw.n_ctx = n_ctx.map_or(0, NonZeroU32::get);
        self
    }

    /// Largest batch `decode` accepts.
    pub fn with_n_batch(mut self, n_batch: u32) -> Self {
        self.raw.n_batch = n_batch;
        self
    }

    /// Physical batch size: tokens computed per graph run. Larger values
    /// speed up prompt processing when experts live in host memory (each
    /// ubatch streams the experts to the GPU once).
    pub fn with_n_ubatch(mut self, n_ubatch: u32) -> Self {
        self.raw.n_ubatch = n_ubatch;
        self
    }

    /// Threads for generation (one token at a time).
    pub fn with_n_threads(mut self, n_threads: i32) -> Self {
        self.raw.n_threads = n_threads;
        self
    }

    /// Threads for prompt processing.
    pub fn with_n_threads_batch(mut self, n_threads: i32) -> Self {
        self.raw.n_threads_batch = n_threads;
        self
    }

    /// Flash Attention policy.
    pub fn with_flash_attention(mut self, policy: FlashAttention) -> Self {
        self.raw.flash_attn_type = match policy {
            FlashAttention::Auto => sys::LLAMA_FLASH_ATTN_TYPE_AUTO,
            FlashAttention::Enabled => sys::LLAMA_FLASH_ATTN_TYPE_ENABLED,
            FlashAttention::Disabled => sys::LLAMA_FLASH_ATTN_TYPE_DISABLED,
        };
        self
    }

    /// Keep the KV cache and attention on the GPU (default on).
    pub fn with_offload_kqv(mut self, offload: bool) -> Self {
        self.raw.offload_kqv = offload;
        self
    }

    /// Let the GPU compute ops whose weights live in host memory, copying
    /// the weights over per batch (default on). Essential for prompt speed
    /// with experts on the CPU.
    pub fn with_op_offload(mut self, offload: bool) -> Self {
        self.raw.op_offload = offload;
        self
    }

    /// Most tokens of one batch that may ask for logits (0, the default:
    /// `n_batch`). llama.cpp reserves compute memory for the logits of this
    /// many tokens per ubatch (`n_vocab` floats each): for GPT-OSS-20B (201k
    /// vocabulary) at `n_ubatch` 2048 the GPU compute buffer is 1,616 MiB by
    /// default and 423 MiB with 1. Generation needs one: the last prompt
    /// token, then one per step. [`LlamaContext::decode`] rejects a batch
    /// asking for more.
    pub fn with_n_outputs_max(mut self, n_outputs_max: u32) -> Self {
        self.raw.n_outputs_max = n_outputs_max;
        self
    }

    /// Size the sliding-window layers' KV cache for the whole context
    /// (llama.cpp's default, `true`) or only for the window plus one ubatch
    /// (`false`: less memory; a sequence can then not be rewound further
    /// back than the window).
    pub fn with_swa_full(mut self, swa_full: bool) -> Self {
        self.raw.swa_full = swa_full;
        self
    }

    /// How the CPU backend keeps its worker threads (default: one pool per
    /// context, see [`CpuThreadPool`]).
    pub fn with_cpu_thread_pool(mut self, pool: CpuThreadPool) -> Self {
        self.cpu_thread_pool = pool;
        self
    }

    /// Polling, CPU affinity and priority of the per-context pool (ignored
    /// with [`CpuThreadPool::PerGraph`]).
    pub fn with_thread_pool_settings(mut self, settings: ThreadPoolSettings) -> Self {
        self.thread_pool_settings = settings;
        self
    }

    /// Records the experts each MoE layer's router picks into `probe` while
    /// contexts made with these params decode (see [`RoutingProbe`]; it
    /// slows them: the scheduler stops at every layer's router).
    pub fn with_routing_probe(mut self, probe: &RoutingProbe) -> Self {
        self.raw.cb_eval = Some(eval_trampoline);
        self.raw.cb_eval_user_data = probe.user_data();
        self.routing_probe = Some(probe.clone());
        self
    }

    /// The probe set by [`Self::with_routing_probe`].
    pub fn routing_probe(&self) -> Option<&RoutingProbe> {
        self.routing_probe.as_ref()
    }

    /// Skip llama.cpp's internal timing.
    pub fn with_no_perf(mut self, no_perf: bool) -> Self {
        self.raw.no_perf = no_perf;
        self
    }

    /// Context length (`None`: from the model).
    pub fn n_ctx(&self) -> Option<NonZeroU32> {
        NonZeroU32::new(self.raw.n_ctx)
    }

    /// Logical batch size.
    pub fn n_batch(&self) -> u32 {
        self.raw.n_batch
    }

    /// Physical batch size.
    pub fn n_ubatch(&self) -> u32 {
        self.raw.n_ubatch
    }

    /// Generation threads.
    pub fn n_threads(&self) -> i32 {
        self.raw.n_threads
    }

    /// Prompt threads.
    pub fn n_threads_batch(&self) -> i32 {
        self.raw.n_threads_batch
    }

    /// The CPU thread-pool policy.
    pub fn cpu_thread_pool(&self) -> CpuThreadPool {
        self.cpu_thread_pool
    }

    /// The per-context pool's settings.
    pub fn thread_pool_settings(&self) -> &ThreadPoolSettings {
        &self.thread_pool_settings
    }

    pub(super) fn validate(&self) -> Result<()> {
        let invalid = |name, reason: &str| {
            Err(LlamaError::InvalidParameter {
                name,
                reason: reason.into(),
            })
        };
        if self.raw.n_batch == 0 {
            return invalid("n_batch", "must be at least 1");
        }
        if self.raw.n_ubatch == 0 {
            return invalid("n_ubatch", "must be at least 1");
        }
        if self.raw.n_threads < 1 || self.raw.n_threads_batch < 1 {
            return invalid("n_threads", "must be at least 1");
        }
        // llama.cpp asserts room for one output per sequence.
        if self.raw.n_outputs_max != 0 && self.raw.n_outputs_max < self.raw.n_seq_max {
            return invalid("n_outputs_max", "must be 0 (n_batch) or at least n_seq_max");
        }
        // ggml asserts beyond this (its thread masks are fixed-size arrays).
        if self.raw.n_threads.max(self.raw.n_threads_batch) > sys::GGML_MAX_N_THREADS as i32 {
            return invalid(
                "n_threads",
                &format!("at most {} threads", sys::GGML_MAX_N_THREADS),
            );
        }
        self.thread_pool_settings.validate()
    }
}
