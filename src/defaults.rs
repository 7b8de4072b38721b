//! The context settings `examples/moe_offload.rs` runs with by default,
//! shared with `examples/bench_moe.rs` so the benchmark measures exactly
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

/// [`LlamaContextParams`] with the defaults above and `threads` for both
/// generation and prompt.
pub fn context_params(n_ctx: u32, n_batch: u32, n_ubatch: u32, threads: i32) -> LlamaContextParams {
    LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(n_ctx))
        .with_n_batch(n_batch)
        .with_n_ubatch(n_ubatch.min(n_batch))
        .with_n_outputs_max(N_OUTPUTS_MAX)
        .with_swa_full(SWA_FULL)
        .with_n_threads(threads)
        .with_n_threads_batch(threads)
}
