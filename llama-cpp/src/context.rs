//! [`LlamaContext`]: the state of one generation (KV cache, logits).

pub mod params;

use crate::backend::{clear_last_error, take_last_error};
use crate::batch::LlamaBatch;
use crate::error::{LlamaError, Result};
use crate::offload::{read_breakdown, BufferMemory};
use crate::thread_pool::{CpuThreadPool, ThreadPool};
use crate::{sys, LlamaBackend, LlamaModel};
use std::num::NonZeroU32;
use std::ptr::NonNull;

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
    raw: sys::llama_context_params,
    cpu_thread_pool: CpuThreadPool,
}

// SAFETY: the struct's pointer fields (callbacks, samplers) are never set by
// this crate and stay NULL.
unsafe impl Send for LlamaContextParams {}
// SAFETY: as above.
unsafe impl Sync for LlamaContextParams {}

impl Default for LlamaContextParams {
    fn default() -> Self {
        // SAFETY: returns a plain struct by value.
        Self { raw: unsafe { sys::llama_context_default_params() }, cpu_thread_pool: CpuThreadPool::default() }
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

    fn validate(&self) -> Result<()> {
        let invalid = |name, reason: &str| Err(LlamaError::InvalidParameter { name, reason: reason.into() });
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
            return invalid("n_threads", &format!("at most {} threads", sys::GGML_MAX_N_THREADS));
        }
        Ok(())
    }
}

/// llama.cpp's own timing of a context.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PerfContextData {
    /// Milliseconds spent on prompt tokens.
    pub t_p_eval_ms: f64,
    /// Milliseconds spent on generated tokens.
    pub t_eval_ms: f64,
    /// Prompt tokens processed.
    pub n_p_eval: i32,
    /// Tokens generated.
    pub n_eval: i32,
}

/// A context over a borrowed model. Freed on drop.
pub struct LlamaContext<'model> {
    raw: NonNull<sys::llama_context>,
    model: &'model LlamaModel,
    n_ctx: u32,
    /// `logits[i]` of the last decoded batch: whether token i has logits.
    outputs: Vec<bool>,
    /// Most outputs one batch may ask for (llama.cpp asserts beyond it).
    n_outputs_max: u32,
    /// Attached to `raw`; dropped after `raw` is freed (fields drop after
    /// `Drop::drop` runs).
    thread_pool: Option<ThreadPool>,
}

// SAFETY: a llama_context may move between threads; it is used through
// `&mut self` for everything that mutates it. It is not Sync.
unsafe impl Send for LlamaContext<'_> {}

impl LlamaModel {
    /// Creates a context (KV cache and compute buffers) for this model.
    pub fn new_context(&self, _backend: &LlamaBackend, params: LlamaContextParams) -> Result<LlamaContext<'_>> {
        params.validate()?;
        let thread_pool = match params.cpu_thread_pool {
            // One pool serves both: ggml runs a graph on at most the threads
            // the context asks for, up to the pool's size.
            CpuThreadPool::PerContext => Some(ThreadPool::new(params.raw.n_threads.max(params.raw.n_threads_batch))?),
            CpuThreadPool::PerGraph => None,
        };
        clear_last_error();
        // SAFETY: the model is valid and outlives the context (borrow); the
        // params struct holds no pointers.
        let raw = unsafe { sys::llama_init_from_model(self.as_ptr(), params.raw) };
        let raw = NonNull::new(raw).ok_or_else(|| {
            LlamaError::ContextCreate(take_last_error().unwrap_or_else(|| "llama_init_from_model returned NULL (out of memory?)".into()))
        })?;
        // SAFETY: raw is a live context.
        let n_ctx = unsafe { sys::llama_n_ctx(raw.as_ptr()) };
        if let Some(pool) = &thread_pool {
            // SAFETY: both are live; the context stores the pointer, and the
            // pool outlives the context (it is dropped after llama_free).
            unsafe { sys::llama_attach_threadpool(raw.as_ptr(), pool.as_ptr(), pool.as_ptr()) };
        }
        let n_outputs_max = if params.raw.n_outputs_max == 0 { u32::MAX } else { params.raw.n_outputs_max };
        Ok(LlamaContext { raw, model: self, n_ctx, outputs: Vec::new(), n_outputs_max, thread_pool })
    }
}

impl<'model> LlamaContext<'model> {
    /// The model this context runs.
    pub fn model(&self) -> &'model LlamaModel {
        self.model
    }

    /// Context length in tokens.
    pub fn n_ctx(&self) -> u32 {
        self.n_ctx
    }

    /// Logical batch size.
    pub fn n_batch(&self) -> u32 {
        // SAFETY: a plain query on a live context.
        unsafe { sys::llama_n_batch(self.raw.as_ptr()) }
    }

    /// Physical batch size.
    pub fn n_ubatch(&self) -> u32 {
        // SAFETY: a plain query on a live context.
        unsafe { sys::llama_n_ubatch(self.raw.as_ptr()) }
    }

    /// Whether attention is causal (each token sees only earlier ones), as
    /// for text generation; encoders and models whose GGUF sets
    /// `<arch>.attention.causal = false` are not.
    pub fn causal_attn(&self) -> bool {
        // SAFETY: the context is live; the shim reads one field and catches
        // every C++ exception. -1 (an error) counts as non-causal, the
        // answer under which `decode` checks more.
        unsafe { sys::llama_rs_context_causal_attn(self.raw.as_ptr()) == 1 }
    }

    /// Runs the model over a batch. Checked first, so bad input is an error
    /// and never reaches llama.cpp's assertions: empty batch, batch larger
    /// than `n_batch` (or than `n_ubatch` without causal attention), token
    /// ids outside the vocabulary, positions beyond the context.
    pub fn decode(&mut self, batch: &mut LlamaBatch) -> Result<()> {
        let n_tokens = batch.n_tokens();
        if n_tokens == 0 {
            return Err(LlamaError::Batch("the batch is empty".into()));
        }
        if n_tokens as u32 > self.n_batch() {
            return Err(LlamaError::Batch(format!("{n_tokens} tokens exceed n_batch {}", self.n_batch())));
        }
        if n_tokens as u64 > u64::from(self.n_ubatch()) && !self.causal_attn() {
            // llama.cpp asserts this: without a causal mask every token
            // attends to every other, so the batch cannot be split.
            return Err(LlamaError::Batch(format!(
                "{n_tokens} tokens exceed n_ubatch {}: a model with non-causal attention \
                 computes a batch in one ubatch",
                self.n_ubatch()
            )));
        }
        let n_outputs = batch.output_flags().iter().filter(|&&output| output).count();
        if n_outputs as u64 > u64::from(self.n_outputs_max) {
            return Err(LlamaError::Batch(format!("{n_outputs} tokens ask for logits; n_outputs_max is {}", self.n_outputs_max)));
        }
        let vocab = self.model.vocab();
        for &token in batch.tokens() {
            vocab.check_token(token)?;
        }
        let needed = batch.max_pos().map_or(0, |p| p as u32 + 1);
        if needed > self.n_ctx {
            return Err(LlamaError::ContextFull { needed, n_ctx: self.n_ctx });
        }
        clear_last_error();
        let ctx = self.raw.as_ptr();
        // SAFETY: with_raw's arrays hold n_tokens entries, each token's
        // n_seq_id[i] ids in 0..n_seq_max, ids valid in the vocabulary and
        // positions within n_ctx (checked above); llama.cpp only reads them,
        // during this call. The context is live and exclusively borrowed.
        let code = batch.with_raw(|raw| unsafe { sys::llama_decode(ctx, raw) })?;
        match code {
            0 => {
                self.outputs = batch.output_flags().to_vec();
                Ok(())
            }
            1 => Err(LlamaError::ContextFull { needed, n_ctx: self.n_ctx }),
            2 => Err(LlamaError::Decode { code, reason: "aborted" }),
            -1 => Err(LlamaError::Decode { code, reason: "invalid input batch (see the log)" }),
            _ => Err(LlamaError::Decode { code, reason: "error while computing the graph (out of memory?)" }),
        }
    }

    /// Waits until the GPU has finished the last [`decode`](Self::decode).
    /// `decode` may return while the GPU still computes; reading logits
    /// waits anyway, so only timing code needs this.
    pub fn synchronize(&mut self) {
        // SAFETY: the context is live and exclusively borrowed.
        unsafe { sys::llama_synchronize(self.raw.as_ptr()) }
    }

    /// Logits of token `i` of the last decoded batch (`n_vocab` floats).
    ///
    /// `i` indexes the tokens of the batch, the same way for every call of
    /// this crate: a negative `i` counts back from the batch's end (`-1` is
    /// its last token), whichever tokens asked for logits. (llama.cpp's C
    /// API counts negative indices back from the last *output*; this crate
    /// resolves the index itself and hands llama.cpp the non-negative one.)
    pub fn get_logits_ith(&self, i: i32) -> Result<&[f32]> {
        let index = self.resolve_output(i)?;
        // SAFETY: `index` is a non-negative token index of the last
        // successful decode whose token asked for logits (checked), so
        // llama.cpp maps it to that token's row and holds n_vocab floats
        // there until the next decode, which needs `&mut self` and so ends
        // this borrow.
        unsafe {
            let ptr = sys::llama_get_logits_ith(self.raw.as_ptr(), index);
            if ptr.is_null() {
                return Err(LlamaError::NoLogits(i));
            }
            Ok(std::slice::from_raw_parts(ptr, self.model.n_vocab() as usize))
        }
    }

    /// The non-negative batch index of token `i` of the last batch (see
    /// [`get_logits_ith`](Self::get_logits_ith)), or an error unless that
    /// token asked for logits.
    pub(crate) fn resolve_output(&self, i: i32) -> Result<i32> {
        let len = self.outputs.len() as i64;
        let index = if i < 0 { len + i64::from(i) } else { i64::from(i) };
        match usize::try_from(index).ok().and_then(|at| self.outputs.get(at)) {
            // Fits: a batch holds at most i32::MAX tokens.
            Some(true) => Ok(index as i32),
            _ => Err(LlamaError::NoLogits(i)),
        }
    }

    /// Forgets everything decoded so far (llama-cpp-2's name).
    pub fn clear_kv_cache(&mut self) {
        // SAFETY: the context is live; its memory handle is owned by it.
        unsafe { sys::llama_memory_clear(sys::llama_get_memory(self.raw.as_ptr()), true) };
        self.outputs.clear();
    }

    /// llama.cpp's timing counters.
    pub fn timings(&self) -> PerfContextData {
        // SAFETY: a plain query on a live context.
        let data = unsafe { sys::llama_perf_context(self.raw.as_ptr()) };
        PerfContextData { t_p_eval_ms: data.t_p_eval_ms, t_eval_ms: data.t_eval_ms, n_p_eval: data.n_p_eval, n_eval: data.n_eval }
    }

    /// Resets the timing counters.
    pub fn reset_timings(&mut self) {
        // SAFETY: the context is live and exclusively borrowed.
        unsafe { sys::llama_perf_context_reset(self.raw.as_ptr()) }
    }

    /// Bytes per buffer type: weights, KV cache and compute buffers.
    pub fn memory_breakdown(&self) -> Result<Vec<BufferMemory>> {
        // SAFETY: the context is live; the shim writes at most `cap`
        // entries and catches every C++ exception.
        read_breakdown(|out, cap| unsafe { sys::llama_rs_context_memory_breakdown(self.raw.as_ptr(), out, cap) })
    }

    /// The raw handle.
    ///
    /// # Safety
    /// Valid while `self` lives; do not free it or decode through it while
    /// this wrapper relies on its own bookkeeping of outputs.
    pub unsafe fn as_ptr(&self) -> *mut sys::llama_context {
        self.raw.as_ptr()
    }
}

impl Drop for LlamaContext<'_> {
    fn drop(&mut self) {
        // SAFETY: we own the context and free it once.
        unsafe { sys::llama_free(self.raw.as_ptr()) }
    }
}

impl std::fmt::Debug for LlamaContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlamaContext").field("n_ctx", &self.n_ctx).field("thread_pool", &self.thread_pool.is_some()).finish()
    }
}
