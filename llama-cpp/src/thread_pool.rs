//! The CPU backend's worker threads, kept alive for the life of a context.
//!
//! Without OpenMP (this crate's default build), ggml starts and joins its
//! worker threads for *every* graph computation unless a thread pool is
//! attached to the context. With experts in host memory, one generated token
//! is 2 × n_layer graph splits that alternate between the GPU and the CPU,
//! so that is hundreds of thread creations per token. llama.cpp's own tools
//! attach a pool to every context; [`LlamaContext`](crate::LlamaContext)
//! does the same by default ([`CpuThreadPool::PerContext`]).
//!
//! Measured on the H200 machine's 16-core host (docs/BENCHMARKS.md): with
//! OpenMP off, GPT-OSS-20B with its experts in host memory decoded at
//! 32.2 ± 0.9 t/s with a pool per context and 32.5 ± 0.3 t/s with ggml's
//! pool per graph. Thread creation is cheap there; the default follows
//! llama.cpp's tools rather than a measured speed-up.

use crate::error::{LlamaError, Result};
use crate::sys;
use std::ptr::NonNull;

/// How the CPU backend runs its worker threads
/// ([`LlamaContextParams::with_cpu_thread_pool`](crate::LlamaContextParams::with_cpu_thread_pool)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CpuThreadPool {
    /// One pool per context, created with it and freed after it: between
    /// graph computations the workers poll briefly, then sleep (llama.cpp's
    /// default polling level, 50). What llama.cpp's own tools do.
    #[default]
    PerContext,
    /// ggml's fallback: a pool per graph computation, started and joined
    /// each time (with OpenMP, OpenMP's own pool is reused instead).
    PerGraph,
}

/// An owned `ggml_threadpool`.
#[derive(Debug)]
pub(crate) struct ThreadPool {
    raw: NonNull<sys::ggml_threadpool>,
}

// SAFETY: the pool's workers are owned by the pool, not by the creating
// thread; ggml_threadpool_free may run on any thread. The pool is not Sync:
// it is handed to one context, which runs one graph at a time through it.
unsafe impl Send for ThreadPool {}

impl ThreadPool {
    /// `n_threads` is in 1..=GGML_MAX_N_THREADS (ggml asserts otherwise):
    /// `LlamaContextParams::validate` checks it before any pool is made.
    pub(crate) fn new(n_threads: i32) -> Result<Self> {
        debug_assert!((1..=sys::GGML_MAX_N_THREADS as i32).contains(&n_threads));
        // SAFETY: fills a plain struct by value; n_threads is in range (above).
        let mut params = unsafe { sys::ggml_threadpool_params_default(n_threads) };
        // SAFETY: params is a valid, initialised struct that outlives the
        // call (ggml copies what it needs).
        let raw = unsafe { sys::ggml_threadpool_new(&mut params) };
        NonNull::new(raw).map(|raw| Self { raw }).ok_or_else(|| {
            LlamaError::ContextCreate(format!(
                "ggml could not create a pool of {n_threads} threads"
            ))
        })
    }

    pub(crate) fn as_ptr(&self) -> *mut sys::ggml_threadpool {
        self.raw.as_ptr()
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        // SAFETY: we own the pool and free it once; the context that used it
        // was freed before (LlamaContext drops its pool after llama_free).
        unsafe { sys::ggml_threadpool_free(self.raw.as_ptr()) }
    }
}
