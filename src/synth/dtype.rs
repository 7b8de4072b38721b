//! The ggml tensor types the presets use.

use std::fmt;

use llama_cpp::gguf::GgmlType;

/// The ggml tensor types the presets use (a subset of `ggml_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dtype {
    F32,
    F16,
    BF16,
    Q8_0,
    Q4K,
    Q6K,
    Mxfp4,
}

impl Dtype {
    /// The `GgmlType` the GGUF writer takes; its sizes and name come from
    /// llama_cpp's one ggml type table.
    pub fn ggml_type(self) -> GgmlType {
        match self {
            Dtype::F32 => GgmlType::F32,
            Dtype::F16 => GgmlType::F16,
            Dtype::BF16 => GgmlType::BF16,
            Dtype::Q8_0 => GgmlType::Q8_0,
            Dtype::Q4K => GgmlType::Q4_K,
            Dtype::Q6K => GgmlType::Q6_K,
            Dtype::Mxfp4 => GgmlType::MXFP4,
        }
    }

    /// The `ggml_type` id (`ggml.h`).
    pub fn ggml_id(self) -> u32 {
        self.ggml_type().0
    }

    /// Elements per block.
    pub fn block_elems(self) -> u64 {
        self.ggml_type().block_size().expect(IN_TABLE)
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> u64 {
        self.ggml_type().type_size().expect(IN_TABLE)
    }

    /// ggml's name for the type.
    pub fn name(self) -> &'static str {
        self.ggml_type().name().expect(IN_TABLE)
    }
}

/// Every `Dtype` is a type ggml can store, so the table knows it (tested).
const IN_TABLE: &str = "every Dtype is in the ggml type table";

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
