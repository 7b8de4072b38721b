//! [`LlamaSampler`]: choosing the next token from the logits.

use crate::error::{LlamaError, Result};
use crate::vocab::LlamaToken;
use crate::{sys, LlamaContext};
use std::ptr::NonNull;

/// A llama.cpp sampler or sampler chain. Freed on drop.
///
/// ```
/// use llama_cpp_moe::LlamaSampler;
/// let sampler = LlamaSampler::chain_simple([
///     LlamaSampler::top_k(40),
///     LlamaSampler::top_p(0.9, 1),
///     LlamaSampler::temp(0.8),
///     LlamaSampler::dist(42),
/// ]);
/// # drop(sampler);
/// ```
pub struct LlamaSampler {
    raw: NonNull<sys::llama_sampler>,
    /// The candidate array of [`LlamaSampler::sample`], kept between calls
    /// (n_vocab entries: 2.4 MB for a 200k vocabulary).
    candidates: Vec<sys::llama_token_data>,
}

// SAFETY: a sampler is plain state owned by this value; llama.cpp's samplers
// hold no thread-affine resources. Not Sync: sampling mutates it.
unsafe impl Send for LlamaSampler {}

impl LlamaSampler {
    fn from_raw(raw: *mut sys::llama_sampler) -> Self {
        Self {
            raw: NonNull::new(raw)
                .expect("llama.cpp sampler constructors do not return NULL for valid arguments"),
            candidates: Vec::new(),
        }
    }

    /// Always the most likely token.
    pub fn greedy() -> Self {
        // SAFETY: no arguments.
        Self::from_raw(unsafe { sys::llama_sampler_init_greedy() })
    }

    /// Samples from the distribution with a seeded RNG.
    pub fn dist(seed: u32) -> Self {
        // SAFETY: plain value argument.
        Self::from_raw(unsafe { sys::llama_sampler_init_dist(seed) })
    }

    /// Divides logits by `t` (0 makes sampling greedy).
    pub fn temp(t: f32) -> Self {
        // SAFETY: plain value argument.
        Self::from_raw(unsafe { sys::llama_sampler_init_temp(t) })
    }

    /// Keeps the `k` most likely tokens (`k <= 0`: all).
    pub fn top_k(k: i32) -> Self {
        // SAFETY: plain value argument.
        Self::from_raw(unsafe { sys::llama_sampler_init_top_k(k) })
    }

    /// Nucleus sampling.
    pub fn top_p(p: f32, min_keep: usize) -> Self {
        // SAFETY: plain value arguments.
        Self::from_raw(unsafe { sys::llama_sampler_init_top_p(p, min_keep) })
    }

    /// Drops tokens below `p` times the top probability.
    pub fn min_p(p: f32, min_keep: usize) -> Self {
        // SAFETY: plain value arguments.
        Self::from_raw(unsafe { sys::llama_sampler_init_min_p(p, min_keep) })
    }

    /// Repetition, frequency and presence penalties over the last `last_n` tokens.
    pub fn penalties(last_n: i32, repeat: f32, frequency: f32, presence: f32) -> Self {
        // SAFETY: plain value arguments.
        Self::from_raw(unsafe {
            sys::llama_sampler_init_penalties(last_n, repeat, frequency, presence)
        })
    }

    /// A chain applying `samplers` in order; the chain owns them.
    pub fn chain(samplers: impl IntoIterator<Item = LlamaSampler>, no_perf: bool) -> Self {
        // SAFETY: returns a plain struct by value.
        let mut params = unsafe { sys::llama_sampler_chain_default_params() };
        params.no_perf = no_perf;
        // SAFETY: plain struct argument.
        let chain = Self::from_raw(unsafe { sys::llama_sampler_chain_init(params) });
        for sampler in samplers {
            let raw = sampler.raw.as_ptr();
            // The chain frees it from now on.
            std::mem::forget(sampler);
            // SAFETY: both are live samplers; ownership of `raw` moves to the chain.
            unsafe { sys::llama_sampler_chain_add(chain.raw.as_ptr(), raw) };
        }
        chain
    }

    /// [`LlamaSampler::chain`] with llama.cpp's timing on.
    pub fn chain_simple(samplers: impl IntoIterator<Item = LlamaSampler>) -> Self {
        Self::chain(samplers, false)
    }

    /// Samples a token from the logits of token `idx` of the context's last
    /// decode (negative: counted back from the batch's end, as in
    /// [`LlamaContext::get_logits_ith`]), and records it (`accept`).
    ///
    /// The sampler has to select a token: [`greedy`](Self::greedy),
    /// [`dist`](Self::dist) or a chain holding one. One that only filters
    /// or rescales (`temp`, `top_k`, `top_p`, `min_p`, `penalties`, or a
    /// chain of only those) is [`LlamaError::NoTokenSelected`], where
    /// llama.cpp's `llama_sampler_sample` would abort the process.
    pub fn sample(&mut self, ctx: &LlamaContext<'_>, idx: i32) -> Result<LlamaToken> {
        let logits = ctx.get_logits_ith(idx)?;
        // What llama_sampler_sample does on the CPU path (this crate never
        // attaches backend samplers), with its assertion made an error.
        self.candidates.clear();
        self.candidates
            .try_reserve(logits.len())
            .map_err(|_| LlamaError::Sample("out of memory for the candidate array".into()))?;
        // n_vocab is an i32, so every index fits.
        let candidate = |(id, &logit): (usize, &f32)| sys::llama_token_data {
            id: id as i32,
            logit,
            p: 0.0,
        };
        self.candidates
            .extend(logits.iter().enumerate().map(candidate));
        let mut cur = sys::llama_token_data_array {
            data: self.candidates.as_mut_ptr(),
            size: self.candidates.len(),
            selected: -1,
            sorted: false,
        };
        // SAFETY: the sampler is live and exclusively ours; `cur` describes
        // `candidates`, valid and writable for `size` entries during the
        // call. Samplers reorder, shrink and set `selected` in place.
        unsafe { sys::llama_sampler_apply(self.raw.as_ptr(), &mut cur) };
        let selected = usize::try_from(cur.selected)
            .ok()
            .filter(|&s| s < cur.size)
            .ok_or(LlamaError::NoTokenSelected)?;
        // SAFETY: `selected < size`, and `data` holds `size` entries (ours,
        // or a sampler's own array, which lives as long as the sampler).
        let token = LlamaToken(unsafe { (*cur.data.add(selected)).id });
        ctx.model().vocab().check_token(token)?;
        self.accept(token);
        Ok(token)
    }

    /// Tells stateful samplers (penalties, ...) that `token` was chosen.
    pub fn accept(&mut self, token: LlamaToken) {
        // SAFETY: the sampler is live and exclusively borrowed.
        unsafe { sys::llama_sampler_accept(self.raw.as_ptr(), token.0) }
    }

    /// Clears the sampler's state (RNG reseeded as created, penalties forgotten).
    pub fn reset(&mut self) {
        // SAFETY: the sampler is live and exclusively borrowed.
        unsafe { sys::llama_sampler_reset(self.raw.as_ptr()) }
    }
}

impl Drop for LlamaSampler {
    fn drop(&mut self) {
        // SAFETY: we own the sampler (chains own their members, which are
        // never dropped separately) and free it once.
        unsafe { sys::llama_sampler_free(self.raw.as_ptr()) }
    }
}

impl std::fmt::Debug for LlamaSampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlamaSampler").finish_non_exhaustive()
    }
}
