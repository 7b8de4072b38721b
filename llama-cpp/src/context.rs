//! [`LlamaContext`]: the state of one generation (KV cache, logits).
//!
//! Its parameters, [`LlamaContextParams`] and [`FlashAttention`], live in `params.rs`, at
//! llama-cpp-2's path `context::params`; they are re-exported here and at the crate root.

pub mod params;

pub use params::{FlashAttention, LlamaContextParams};

use crate::backend::{clear_last_error, take_last_error};
use crate::batch::LlamaBatch;
use crate::error::{LlamaError, Result};
use crate::offload::{read_breakdown, BufferMemory};
use crate::routing::RoutingProbe;
use crate::thread_pool::{CpuThreadPool, ThreadPool};
use crate::{sys, LlamaBackend, LlamaModel};
use std::ptr::NonNull;

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
    /// The state llama.cpp's evaluation callback writes to, kept alive for
    /// as long as the context may call it.
    _routing_probe: Option<RoutingProbe>,
}

// SAFETY: a llama_context may move between threads; it is used through
// `&mut self` for everything that mutates it. It is not Sync.
unsafe impl Send for LlamaContext<'_> {}

impl LlamaModel {
    /// Creates a context (KV cache and compute buffers) for this model.
    pub fn new_context(
        &self,
        _backend: &LlamaBackend,
        params: LlamaContextParams,
    ) -> Result<LlamaContext<'_>> {
        params.validate()?;
        let thread_pool = match params.cpu_thread_pool {
            // One pool serves both: ggml runs a graph on at most the threads
            // the context asks for, up to the pool's size.
            CpuThreadPool::PerContext => Some(ThreadPool::new(
                params.raw.n_threads.max(params.raw.n_threads_batch),
                &params.thread_pool_settings,
            )?),
            CpuThreadPool::PerGraph => None,
        };
        clear_last_error();
        // SAFETY: the model is valid and outlives the context (borrow); the
        // params' only pointer is the routing probe's state, which the
        // context keeps alive (a clone of the probe) until it is freed.
        let raw = unsafe { sys::llama_init_from_model(self.as_ptr(), params.raw) };
        let raw =
            NonNull::new(raw).ok_or_else(|| {
                LlamaError::ContextCreate(take_last_error().unwrap_or_else(|| {
                    "llama_init_from_model returned NULL (out of memory?)".into()
                }))
            })?;
        // SAFETY: raw is a live context.
        let n_ctx = unsafe { sys::llama_n_ctx(raw.as_ptr()) };
        if let Some(pool) = &thread_pool {
            // SAFETY: both are live; the context stores the pointer, and the
            // pool outlives the context (it is dropped after llama_free).
            unsafe { sys::llama_attach_threadpool(raw.as_ptr(), pool.as_ptr(), pool.as_ptr()) };
        }
        let n_outputs_max = if params.raw.n_outputs_max == 0 {
            u32::MAX
        } else {
            params.raw.n_outputs_max
        };
        Ok(LlamaContext {
            raw,
            model: self,
            n_ctx,
            outputs: Vec::new(),
            n_outputs_max,
            thread_pool,
            _routing_probe: params.routing_probe.clone(),
        })
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
            return Err(LlamaError::Batch(format!(
                "{n_tokens} tokens exceed n_batch {}",
                self.n_batch()
            )));
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
        let n_outputs = batch
            .output_flags()
            .iter()
            .filter(|&&output| output)
            .count();
        if n_outputs as u64 > u64::from(self.n_outputs_max) {
            return Err(LlamaError::Batch(format!(
                "{n_outputs} tokens ask for logits; n_outputs_max is {}",
                self.n_outputs_max
            )));
        }
        let vocab = self.model.vocab();
        for &token in batch.tokens() {
            vocab.check_token(token)?;
        }
        let needed = batch.max_pos().map_or(0, |p| p as u32 + 1);
        if needed > self.n_ctx {
            return Err(LlamaError::ContextFull {
                needed,
                n_ctx: self.n_ctx,
            });
        }
        if let Some(pool) = &mut self.thread_pool {
            pool.wake();
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
            1 => Err(LlamaError::ContextFull {
                needed,
                n_ctx: self.n_ctx,
            }),
            2 => Err(LlamaError::Decode {
                code,
                reason: "aborted",
            }),
            -1 => Err(LlamaError::Decode {
                code,
                reason: "invalid input batch (see the log)",
            }),
            _ => Err(LlamaError::Decode {
                code,
                reason: "error while computing the graph (out of memory?)",
            }),
        }
    }

    /// Puts the context's CPU thread pool to sleep until the next
    /// [`decode`](Self::decode), which wakes it. After each graph ggml's
    /// workers spin for more work before they sleep, `1024 · 128 · poll`
    /// pause instructions (a few tenths of a second at the default poll
    /// level of 50 on recent x86 CPUs): right for one context decoding
    /// token after token, but cores taken from whatever runs next, such as
    /// another context in the same process. Without a pool of its own
    /// ([`CpuThreadPool::PerGraph`]) there is nothing to pause.
    pub fn pause_cpu_threads(&mut self) {
        if let Some(pool) = &mut self.thread_pool {
            pool.pause();
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
            Ok(std::slice::from_raw_parts(
                ptr,
                self.model.n_vocab() as usize,
            ))
        }
    }

    /// The non-negative batch index of token `i` of the last batch (see
    /// [`get_logits_ith`](Self::get_logits_ith)), or an error unless that
    /// token asked for logits.
    pub(crate) fn resolve_output(&self, i: i32) -> Result<i32> {
        let len = self.outputs.len() as i64;
        let index = if i < 0 {
            len + i64::from(i)
        } else {
            i64::from(i)
        };
        match usize::try_from(index)
            .ok()
            .and_then(|at| self.outputs.get(at))
        {
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
        PerfContextData {
            t_p_eval_ms: data.t_p_eval_ms,
            t_eval_ms: data.t_eval_ms,
            n_p_eval: data.n_p_eval,
            n_eval: data.n_eval,
        }
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
        read_breakdown(|out, cap| unsafe {
            sys::llama_rs_context_memory_breakdown(self.raw.as_ptr(), out, cap)
        })
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
        f.debug_struct("LlamaContext")
            .field("n_ctx", &self.n_ctx)
            .field("thread_pool", &self.thread_pool.is_some())
            .finish()
    }
}
