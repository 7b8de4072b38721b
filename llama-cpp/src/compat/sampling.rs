//! llama-cpp-2's sampler (`llama_cpp_2::sampling`): its `sample` returns a bare token.
//!
//! [`LlamaSampler`] here wraps this crate's [`crate::LlamaSampler`], whose `sample` returns a
//! `Result`. Grammar, DRY, XTC, mirostat, typical, top-n-sigma, logit-bias and llguidance
//! samplers and `apply` on token data arrays are not provided.

use crate::error::Result;
use crate::{LlamaContext, LlamaToken};
use std::borrow::Borrow;

/// A llama.cpp sampler or sampler chain with llama-cpp-2's signatures. Freed on drop.
///
/// ```
/// use llama_cpp_moe::sampling::LlamaSampler;
/// let sampler = LlamaSampler::chain_simple([LlamaSampler::dist(1234), LlamaSampler::greedy()]);
/// # drop(sampler);
/// ```
#[derive(Debug)]
pub struct LlamaSampler(crate::LlamaSampler);

impl LlamaSampler {
    /// Samples a token from the logits of batch index `idx` (negative counts from the end) of
    /// the context's last decode, and accepts it.
    ///
    /// # Panics
    /// When `idx` has no logits (the token was not marked for output, or nothing was decoded).
    /// llama-cpp-2 hands such an index to llama.cpp, which aborts the process;
    /// [`try_sample`](Self::try_sample) returns the error instead.
    #[must_use]
    pub fn sample(&mut self, ctx: &LlamaContext<'_>, idx: i32) -> LlamaToken {
        self.try_sample(ctx, idx)
            .unwrap_or_else(|err| panic!("LlamaSampler::sample: {err}"))
    }

    /// [`sample`](Self::sample) with an error for an index without logits.
    ///
    /// # Errors
    /// [`crate::LlamaError::NoLogits`] when `idx` has no logits.
    pub fn try_sample(&mut self, ctx: &LlamaContext<'_>, idx: i32) -> Result<LlamaToken> {
        self.0.sample(ctx, idx)
    }

    /// Tells stateful samplers (penalties, ...) that `token` was chosen.
    pub fn accept(&mut self, token: LlamaToken) {
        self.0.accept(token);
    }

    /// [`accept`](Self::accept) for each token in order.
    pub fn accept_many(&mut self, tokens: impl IntoIterator<Item = impl Borrow<LlamaToken>>) {
        for token in tokens {
            self.0.accept(*token.borrow());
        }
    }

    /// [`accept_many`](Self::accept_many), chaining.
    #[must_use]
    pub fn with_tokens(
        mut self,
        tokens: impl IntoIterator<Item = impl Borrow<LlamaToken>>,
    ) -> Self {
        self.accept_many(tokens);
        self
    }

    /// Clears the sampler's state (RNG reseeded as created, penalties forgotten).
    pub fn reset(&mut self) {
        self.0.reset();
    }

    /// A chain applying `samplers` in order; the chain owns them.
    #[must_use]
    pub fn chain(samplers: impl IntoIterator<Item = Self>, no_perf: bool) -> Self {
        Self(crate::LlamaSampler::chain(
            samplers.into_iter().map(|s| s.0),
            no_perf,
        ))
    }

    /// [`chain`](Self::chain) with llama.cpp's timing on.
    #[must_use]
    pub fn chain_simple(samplers: impl IntoIterator<Item = Self>) -> Self {
        Self::chain(samplers, false)
    }

    /// Always the most likely token.
    #[must_use]
    pub fn greedy() -> Self {
        Self(crate::LlamaSampler::greedy())
    }

    /// Samples from the distribution with a seeded RNG.
    #[must_use]
    pub fn dist(seed: u32) -> Self {
        Self(crate::LlamaSampler::dist(seed))
    }

    /// Divides logits by `t` (0 makes sampling greedy).
    #[must_use]
    pub fn temp(t: f32) -> Self {
        Self(crate::LlamaSampler::temp(t))
    }

    /// Keeps the `k` most likely tokens (`k <= 0`: all).
    #[must_use]
    pub fn top_k(k: i32) -> Self {
        Self(crate::LlamaSampler::top_k(k))
    }

    /// Nucleus sampling.
    #[must_use]
    pub fn top_p(p: f32, min_keep: usize) -> Self {
        Self(crate::LlamaSampler::top_p(p, min_keep))
    }

    /// Drops tokens below `p` times the top probability.
    #[must_use]
    pub fn min_p(p: f32, min_keep: usize) -> Self {
        Self(crate::LlamaSampler::min_p(p, min_keep))
    }

    /// Repetition, frequency and presence penalties over the last `penalty_last_n` tokens.
    #[must_use]
    pub fn penalties(
        penalty_last_n: i32,
        penalty_repeat: f32,
        penalty_freq: f32,
        penalty_present: f32,
    ) -> Self {
        Self(crate::LlamaSampler::penalties(
            penalty_last_n,
            penalty_repeat,
            penalty_freq,
            penalty_present,
        ))
    }

    /// This crate's sampler.
    #[must_use]
    pub fn into_inner(self) -> crate::LlamaSampler {
        self.0
    }
}

impl From<crate::LlamaSampler> for LlamaSampler {
    fn from(inner: crate::LlamaSampler) -> Self {
        Self(inner)
    }
}
