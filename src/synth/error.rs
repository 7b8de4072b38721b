//! The error type of the generator.

use std::io;
use std::path::PathBuf;

use llama_cpp::gguf::GgufError;

use super::{Dtype, Preset};

/// Why building or writing a synthetic model failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SynthError {
    /// No preset has this CLI name.
    #[error("unknown preset '{name}' (expected one of {})", Preset::NAMES.join(", "))]
    UnknownPreset {
        /// The name asked for.
        name: String,
    },
    /// [`SynthOptions::layers`](super::SynthOptions::layers) is 0 or more
    /// than the preset has.
    #[error("--layers must be in 1..={max} for {preset} (got {layers})")]
    LayersOutOfRange {
        /// The preset.
        preset: Preset,
        /// The layer count asked for.
        layers: u32,
        /// The preset's full layer count.
        max: u32,
    },
    /// The vocabulary is too small for the synthetic tokenizer.
    #[error("vocabulary override must be at least {min} (got {vocab})")]
    VocabTooSmall {
        /// The size asked for.
        vocab: u32,
        /// [`min_vocab`](super::min_vocab).
        min: u32,
    },
    /// A tensor row is not a whole number of blocks of its type.
    #[error("{tensor}: ne[0] = {ne0} is not a multiple of the {dtype} block size {block}")]
    PartialBlock {
        /// The tensor's name.
        tensor: String,
        /// Its row length.
        ne0: u64,
        /// Its type.
        dtype: Dtype,
        /// The type's block size.
        block: u64,
    },
    /// A constant fill was asked of a quantized type.
    #[error("{tensor}: constant fill needs a float type")]
    ConstFillNotFloat {
        /// The tensor's name.
        tensor: String,
    },
    /// The GGUF writer refused a tensor description.
    #[error("adding tensor {tensor}")]
    Tensor {
        /// The tensor's name.
        tensor: String,
        /// Why.
        source: GgufError,
    },
    /// Encoding or writing the GGUF file failed.
    #[error(transparent)]
    Gguf(#[from] GgufError),
    /// Creating, writing or renaming the output file failed.
    #[error("{action} {}", path.display())]
    Io {
        /// What was being done: "creating", "writing" or "renaming to".
        action: &'static str,
        /// The output path.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}
