//! Where the planner puts expert biases.

/// Where the expert biases (`ffn_*_exps.bias`) go.
///
/// Biases left on the GPU under a host matrix make each host matrix a round
/// trip of its own (CPU matmul, GPU bias add, back to the CPU for the next
/// matrix), where a layer whose biases follow its matrices makes one. On the
/// H200 (GPT-OSS-20B, 5 runs) every expert matrix on the host with the
/// biases on the GPU made 146 graph splits per decoded token instead of 50
/// and decoded 31.0 ± 1.6 t/s, at the low end of `--cpu-moe`'s 30.8–39.6
/// across processes, with the prompt level (2,189 against 2,168 t/s): no
/// gain from keeping them on the GPU, so the default is llama.cpp's
/// `--cpu-moe` placement. (An 8 GiB plan with GPU biases decoded 37.5 ± 6.9
/// t/s against 58.6 for `--n-cpu-moe 12`, but a 10 GiB one with 44 splits
/// matched `--n-cpu-moe 7`'s 16: the splits do not explain that gap.)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ExpertBiases {
    /// With their matrices, as llama.cpp's `--cpu-moe` pattern does: one
    /// round trip per layer with experts in host memory. The default.
    #[default]
    FollowMatrices,
    /// On the GPU whatever happens to their matrices: a round trip per host
    /// matrix that has a bias. ik_llama.cpp (#829, #841) measured host biases
    /// slowing its prompt; llama.cpp b10200 on the H200 did not (above).
    Gpu,
}
