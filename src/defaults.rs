//! The context settings `examples/moe_offload/` runs with by default,
//! shared with `examples/bench_moe/` so the benchmark measures exactly
//! them. Each value was chosen by measurement on the H200 machine with
//! GPT-OSS-20B's experts in host memory (docs/BENCHMARKS.md, "Defaults").

use llama_cpp::LlamaContextParams;
use std::num::NonZeroU32;

/// Context length: room for a 2,048-token prompt and long answers.
pub const N_CTX: u32 = 4096;
/// Logical batch: a 2,048-token prompt is one `decode`.
pub const N_BATCH: u32 = 2048;
/// Physical batch: every ubatch streams all used experts to the GPU once
/// (PCIe-bound), so one ubatch of 2,048 tokens costs about what one of 512
/// costs.
pub const N_UBATCH: u32 = 2048;
/// Logits per batch: generation reads one. llama.cpp otherwise reserves
/// room for `n_vocab` floats per ubatch token on the GPU: GPT-OSS-20B's
/// compute buffer at ubatch 2048 is 1,616 MiB with the default and 423 MiB
/// with 1, a difference half the size of the weights left on the GPU.
pub const N_OUTPUTS_MAX: u32 = 1;
/// Sliding-window layers keep only the window plus one ubatch in their KV
/// cache (llama.cpp's tools do the same; the C API's default is `true`).
pub const SWA_FULL: bool = false;

/// The context settings the examples vary, and the one place they become
/// [`LlamaContextParams`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextSettings {
    /// Context length in tokens.
    pub n_ctx: u32,
    /// Logical batch.
    pub n_batch: u32,
    /// Physical batch; capped at `n_batch`, as llama.cpp would.
    pub n_ubatch: u32,
    /// Threads for generation and for the prompt.
    pub threads: i32,
    /// Logits per batch (0: `n_batch`).
    pub n_outputs_max: u32,
    /// Full-size KV cache for sliding-window layers.
    pub swa_full: bool,
}

impl ContextSettings {
    /// The defaults above with `threads`.
    pub fn defaults(threads: i32) -> Self {
        Self {
            n_ctx: N_CTX,
            n_batch: N_BATCH,
            n_ubatch: N_UBATCH,
            threads,
            n_outputs_max: N_OUTPUTS_MAX,
            swa_full: SWA_FULL,
        }
    }

    /// The llama.cpp context params of these settings.
    pub fn params(&self) -> LlamaContextParams {
        LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(self.n_ctx))
            .with_n_batch(self.n_batch)
            .with_n_ubatch(self.n_ubatch.min(self.n_batch))
            .with_n_outputs_max(self.n_outputs_max)
            .with_swa_full(self.swa_full)
            .with_n_threads(self.threads)
            .with_n_threads_batch(self.threads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_carry_the_settings_with_ubatch_capped() {
        let settings = ContextSettings {
            n_ctx: 1024,
            n_batch: 256,
            n_ubatch: 512,
            threads: 3,
            ..ContextSettings::defaults(1)
        };
        let params = settings.params();
        assert_eq!(params.n_ctx(), NonZeroU32::new(1024));
        assert_eq!((params.n_batch(), params.n_ubatch()), (256, 256));
        assert_eq!((params.n_threads(), params.n_threads_batch()), (3, 3));
        let defaults = ContextSettings::defaults(8).params();
        assert_eq!(defaults.n_ctx(), NonZeroU32::new(N_CTX));
        assert_eq!(
            (defaults.n_batch(), defaults.n_ubatch()),
            (N_BATCH, N_UBATCH)
        );
        // n_ctx 0 means "the model's": no explicit length.
        let from_model = ContextSettings {
            n_ctx: 0,
            ..ContextSettings::defaults(8)
        };
        assert_eq!(from_model.params().n_ctx(), None);
    }
}
