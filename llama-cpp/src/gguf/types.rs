//! The ggml tensor element types: ids, names and block sizes.

use std::fmt;

use super::GgufError;

/// A ggml tensor element type, by its id in `enum ggml_type` (ggml.h).
///
/// Kept as an open newtype rather than an enum because files may carry ids
/// this build does not know; the parser rejects those with
/// [`GgufError::UnknownTensorType`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GgmlType(pub u32);

impl GgmlType {
    /// 32-bit IEEE float.
    pub const F32: Self = Self(0);
    /// 16-bit IEEE float.
    pub const F16: Self = Self(1);
    /// 4-bit quantisation, blocks of 32 with an f16 scale.
    pub const Q4_0: Self = Self(2);
    /// 4-bit quantisation, blocks of 32 with f16 scale and minimum.
    pub const Q4_1: Self = Self(3);
    /// 5-bit quantisation, blocks of 32 with an f16 scale.
    pub const Q5_0: Self = Self(6);
    /// 5-bit quantisation, blocks of 32 with f16 scale and minimum.
    pub const Q5_1: Self = Self(7);
    /// 8-bit quantisation, blocks of 32 with an f16 scale.
    pub const Q8_0: Self = Self(8);
    /// 8-bit quantisation, blocks of 32 with f16 scale and sum (activations).
    pub const Q8_1: Self = Self(9);
    /// 2-bit k-quant (super-blocks of 256).
    pub const Q2_K: Self = Self(10);
    /// 3-bit k-quant (super-blocks of 256).
    pub const Q3_K: Self = Self(11);
    /// 4-bit k-quant (super-blocks of 256).
    pub const Q4_K: Self = Self(12);
    /// 5-bit k-quant (super-blocks of 256).
    pub const Q5_K: Self = Self(13);
    /// 6-bit k-quant (super-blocks of 256).
    pub const Q6_K: Self = Self(14);
    /// 8-bit k-quant (super-blocks of 256; intermediate use).
    pub const Q8_K: Self = Self(15);
    /// 2.06-bit importance quant.
    pub const IQ2_XXS: Self = Self(16);
    /// 2.31-bit importance quant.
    pub const IQ2_XS: Self = Self(17);
    /// 3.06-bit importance quant.
    pub const IQ3_XXS: Self = Self(18);
    /// 1.56-bit importance quant.
    pub const IQ1_S: Self = Self(19);
    /// 4.5-bit non-linear quant, blocks of 32.
    pub const IQ4_NL: Self = Self(20);
    /// 3.44-bit importance quant.
    pub const IQ3_S: Self = Self(21);
    /// 2.5-bit importance quant.
    pub const IQ2_S: Self = Self(22);
    /// 4.25-bit non-linear quant, super-blocks of 256.
    pub const IQ4_XS: Self = Self(23);
    /// 8-bit signed integer.
    pub const I8: Self = Self(24);
    /// 16-bit signed integer.
    pub const I16: Self = Self(25);
    /// 32-bit signed integer.
    pub const I32: Self = Self(26);
    /// 64-bit signed integer.
    pub const I64: Self = Self(27);
    /// 64-bit IEEE float.
    pub const F64: Self = Self(28);
    /// 1.75-bit importance quant.
    pub const IQ1_M: Self = Self(29);
    /// bfloat16.
    pub const BF16: Self = Self(30);
    /// Ternary quant, 1.69 bits.
    pub const TQ1_0: Self = Self(34);
    /// Ternary quant, 2.06 bits.
    pub const TQ2_0: Self = Self(35);
    /// Microscaling FP4, blocks of 32 with an E8M0 scale.
    pub const MXFP4: Self = Self(39);
    /// NVIDIA FP4, blocks of 64 (four sub-blocks with E4M3 scales).
    pub const NVFP4: Self = Self(40);
    /// 1-bit quantisation, blocks of 128.
    pub const Q1_0: Self = Self(41);
    /// 2-bit quantisation, blocks of 64.
    pub const Q2_0: Self = Self(42);

    /// Every type ggml can store in a file, in id order.
    pub const ALL: &'static [GgmlType] = &[
        Self::F32,
        Self::F16,
        Self::Q4_0,
        Self::Q4_1,
        Self::Q5_0,
        Self::Q5_1,
        Self::Q8_0,
        Self::Q8_1,
        Self::Q2_K,
        Self::Q3_K,
        Self::Q4_K,
        Self::Q5_K,
        Self::Q6_K,
        Self::Q8_K,
        Self::IQ2_XXS,
        Self::IQ2_XS,
        Self::IQ3_XXS,
        Self::IQ1_S,
        Self::IQ4_NL,
        Self::IQ3_S,
        Self::IQ2_S,
        Self::IQ4_XS,
        Self::I8,
        Self::I16,
        Self::I32,
        Self::I64,
        Self::F64,
        Self::IQ1_M,
        Self::BF16,
        Self::TQ1_0,
        Self::TQ2_0,
        Self::MXFP4,
        Self::NVFP4,
        Self::Q1_0,
        Self::Q2_0,
    ];

    /// (name, elements per block, bytes per block), copied from ggml's
    /// `type_traits` table and the block structs in ggml-common.h. Removed ids
    /// (4, 5, 31-33, 36-38) have block size 0 there and are unknown here.
    pub(super) const fn traits(self) -> Option<(&'static str, u64, u64)> {
        Some(match self.0 {
            0 => ("f32", 1, 4),
            1 => ("f16", 1, 2),
            2 => ("q4_0", 32, 18),
            3 => ("q4_1", 32, 20),
            6 => ("q5_0", 32, 22),
            7 => ("q5_1", 32, 24),
            8 => ("q8_0", 32, 34),
            9 => ("q8_1", 32, 36),
            10 => ("q2_K", 256, 84),
            11 => ("q3_K", 256, 110),
            12 => ("q4_K", 256, 144),
            13 => ("q5_K", 256, 176),
            14 => ("q6_K", 256, 210),
            15 => ("q8_K", 256, 292),
            16 => ("iq2_xxs", 256, 66),
            17 => ("iq2_xs", 256, 74),
            18 => ("iq3_xxs", 256, 98),
            19 => ("iq1_s", 256, 50),
            20 => ("iq4_nl", 32, 18),
            21 => ("iq3_s", 256, 110),
            22 => ("iq2_s", 256, 82),
            23 => ("iq4_xs", 256, 136),
            24 => ("i8", 1, 1),
            25 => ("i16", 1, 2),
            26 => ("i32", 1, 4),
            27 => ("i64", 1, 8),
            28 => ("f64", 1, 8),
            29 => ("iq1_m", 256, 56),
            30 => ("bf16", 1, 2),
            34 => ("tq1_0", 256, 54),
            35 => ("tq2_0", 256, 66),
            39 => ("mxfp4", 32, 17),
            40 => ("nvfp4", 64, 36),
            41 => ("q1_0", 128, 18),
            42 => ("q2_0", 64, 18),
            _ => return None,
        })
    }

    /// The type's name as `ggml_type_name` spells it (`"f32"`, `"q4_K"`,
    /// `"mxfp4"`, ...); `None` for unknown or removed ids.
    pub fn name(self) -> Option<&'static str> {
        self.traits().map(|t| t.0)
    }

    /// Elements per block (`ggml_blck_size`); 1 for plain types.
    pub fn block_size(self) -> Option<u64> {
        self.traits().map(|t| t.1)
    }

    /// Bytes per block (`ggml_type_size`).
    pub fn type_size(self) -> Option<u64> {
        self.traits().map(|t| t.2)
    }

    /// Whether the type is block-quantised (ggml's `is_quantized`).
    pub fn is_quantized(self) -> bool {
        // In ggml every quantised type has blocks of more than one element
        // and every plain type has blocks of one.
        self.block_size().is_some_and(|b| b > 1)
    }

    /// Bytes taken by `n_elements` consecutive elements (`ggml_row_size`).
    ///
    /// Errors if the type is unknown, if `n_elements` is not a multiple of the
    /// block size (a block cannot be split), or on overflow. Errors name no
    /// tensor; callers that know one attach it themselves.
    pub fn row_bytes(self, n_elements: u64) -> Result<u64, GgufError> {
        let (_, block, size) = self.traits().ok_or(GgufError::UnknownTensorType {
            tensor: String::new(),
            type_id: self.0,
        })?;
        if n_elements % block != 0 {
            return Err(GgufError::InvalidTensor {
                tensor: String::new(),
                reason: format!(
                    "{n_elements} elements of type {} is not a whole number of blocks of {block}",
                    self
                ),
            });
        }
        (n_elements / block)
            .checked_mul(size)
            .ok_or(GgufError::TooLarge {
                what: "tensor size in bytes",
                value: n_elements,
            })
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "ggml_type({})", self.0),
        }
    }
}
