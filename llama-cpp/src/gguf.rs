//! Pure-Rust reader and writer for GGUF, the file format of ggml / llama.cpp.
//!
//! The reader parses the header (metadata and tensor descriptions) and never
//! touches tensor data; the writer produces a version 3 file and streams tensor
//! data through a callback, so neither needs the model in memory.
//!
//! The reader is meant to be safe on untrusted input: it never panics, never
//! allocates from a count it has not bounded, uses checked arithmetic
//! throughout, and validates every tensor description the way llama.cpp's
//! `gguf_init_from_file` does (plus a few extra checks, listed on
//! [`GgufFile::read_header`]).
//!
//! Layout (all little-endian):
//!
//! ```text
//! "GGUF" | version u32 | n_tensors u64 | n_kv u64
//! n_kv    x (key: string, value_type: u32, value)
//! n_tensors x (name: string, n_dims: u32, ne: n_dims x u64, ggml_type: u32, offset: u64)
//! padding to `alignment`, then the data section; tensor `offset`s are relative to it
//! string = len: u64, UTF-8 bytes (no NUL)
//! array value = element_type: u32, count: u64, count x value payload
//! ```
#![forbid(unsafe_code)]

use std::collections::HashSet;
use std::fmt;
use std::io::{self, BufReader, Read, Write};
use std::ops::Range;
use std::path::Path;

/// The four bytes every GGUF file starts with.
pub const GGUF_MAGIC: [u8; 4] = *b"GGUF";

/// Alignment of the data section and of every tensor's data when the file has
/// no `general.alignment` key.
pub const GGUF_DEFAULT_ALIGNMENT: u64 = 32;

/// The GGUF version the writer produces. The reader also accepts version 2,
/// whose layout is identical (version 3 only added big-endian files, which are
/// rejected here as they are by llama.cpp on little-endian hosts).
pub const GGUF_VERSION: u32 = 3;

/// The metadata key that overrides [`GGUF_DEFAULT_ALIGNMENT`]; llama.cpp
/// requires its value to be a `u32` power of two.
pub const GGUF_KEY_ALIGNMENT: &str = "general.alignment";

/// Longest accepted string (keys and string values), in bytes. Same limit as
/// llama.cpp (`GGUF_MAX_STRING_LENGTH`); real files stay far below it, except
/// for the occasional embedded `tokenizer.json`, which is still well within.
/// When the input length is known the remaining length is a tighter bound.
pub const MAX_STRING_LEN: u64 = 1 << 30;

/// Most elements accepted in one array (llama.cpp's `GGUF_MAX_ARRAY_ELEMENTS`).
pub const MAX_ARRAY_LEN: u64 = 1 << 30;

/// Deepest accepted nesting of arrays within arrays. The format puts no
/// limit on it, but the parser recurses, and hostile input must not be able to
/// exhaust the stack. llama.cpp itself rejects any nesting at all.
pub const MAX_ARRAY_DEPTH: u32 = 16;

/// Most tensor names ggml can store: `GGML_MAX_NAME` (64) includes the NUL.
pub const MAX_TENSOR_NAME_LEN: usize = 63;

/// Most dimensions a ggml tensor can have (`GGML_MAX_DIMS`).
pub const MAX_DIMS: usize = 4;

/// Bound on the tensor and key-value counts when the input length is unknown,
/// so a lying header cannot make the parser loop for ages on a stream.
const MAX_COUNT_UNKNOWN_LEN: u64 = 1 << 24;

/// Cap on speculative allocation from a declared count: beyond this, vectors
/// grow only as elements are actually read.
const MAX_PREALLOC: u64 = 4096;

// GGUF metadata value type ids (`enum gguf_type`).
const T_U8: u32 = 0;
const T_I8: u32 = 1;
const T_U16: u32 = 2;
const T_I16: u32 = 3;
const T_U32: u32 = 4;
const T_I32: u32 = 5;
const T_F32: u32 = 6;
const T_BOOL: u32 = 7;
const T_STRING: u32 = 8;
const T_ARRAY: u32 = 9;
const T_U64: u32 = 10;
const T_I64: u32 = 11;
const T_F64: u32 = 12;

/// Errors from reading or writing GGUF.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    /// The underlying reader or writer failed (other than by ending early,
    /// which is [`GgufError::Truncated`]).
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The input does not start with `GGUF`.
    #[error("not a GGUF file (magic bytes {}, expected \"GGUF\")", escape_magic(.magic))]
    NotGguf {
        /// The first four bytes that were found instead.
        magic: [u8; 4],
    },
    /// The version field is not 2 or 3.
    #[error("unsupported GGUF version {0}{hint}", hint = version_hint(*.0))]
    UnsupportedVersion(u32),
    /// The input ended in the middle of the named part of the header.
    #[error("GGUF data truncated: input ended while reading {what}")]
    Truncated {
        /// Which part of the file was being read.
        what: &'static str,
    },
    /// A string is not valid UTF-8.
    #[error("invalid string in {what}: GGUF strings must be UTF-8")]
    InvalidString {
        /// Which string it was.
        what: &'static str,
    },
    /// A metadata value type id outside `enum gguf_type`.
    #[error("unknown GGUF metadata value type {0} (known types are 0..=12)")]
    UnknownValueType(u32),
    /// A tensor's ggml type id is not one ggml can load (unknown or removed).
    #[error("tensor '{tensor}' has unknown or removed ggml type id {type_id}")]
    UnknownTensorType {
        /// The tensor's name (empty when not about a particular tensor).
        tensor: String,
        /// The offending type id.
        type_id: u32,
    },
    /// A tensor description is inconsistent: bad shape, misaligned offset,
    /// data outside the file, name too long, ...
    #[error("invalid tensor '{tensor}': {reason}")]
    InvalidTensor {
        /// The tensor's name (empty when not about a particular tensor).
        tensor: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A count or length exceeds what this implementation accepts.
    #[error("{what} too large: {value}")]
    TooLarge {
        /// What was counted or measured.
        what: &'static str,
        /// The offending value.
        value: u64,
    },
    /// The same metadata key appears twice.
    #[error("duplicate metadata key '{0}'")]
    DuplicateKey(String),
    /// The same tensor name appears twice.
    #[error("duplicate tensor name '{0}'")]
    DuplicateTensor(String),
    /// A [`GgufWriter::write`] data callback wrote the wrong number of bytes.
    #[error("tensor '{tensor}': data callback wrote {written} bytes, expected exactly {expected}")]
    WrongDataLength {
        /// The tensor being written.
        tensor: String,
        /// Its size in bytes according to its shape and type.
        expected: u64,
        /// How many bytes the callback wrote (or tried to write).
        written: u64,
    },
    /// `general.alignment` is zero, not a power of two, or beyond `u32`.
    #[error("invalid alignment {0}: must be a power of two that fits in a u32")]
    InvalidAlignment(u64),
    /// The writer was given an array whose elements are not all of one type.
    #[error("metadata key '{key}': array elements have different types, but GGUF arrays are homogeneous")]
    MixedArray {
        /// The key holding the array.
        key: String,
    },
    /// A metadata key is unusable: empty, or a special key with the wrong
    /// value type (e.g. `general.alignment` that is not a `u32`).
    #[error("invalid metadata key '{key}': {reason}")]
    InvalidMetadata {
        /// The key (may be empty).
        key: String,
        /// What is wrong with it.
        reason: String,
    },
}

fn escape_magic(magic: &[u8; 4]) -> String {
    let mut s = String::from("\"");
    for &b in magic {
        s.extend(std::ascii::escape_default(b).map(char::from));
    }
    s.push('"');
    s
}

fn version_hint(version: u32) -> &'static str {
    // A big-endian file read on a little-endian host shows its version in the
    // high bytes (3 becomes 0x03000000); llama.cpp uses the same heuristic.
    if version != 0 && version & 0xFFFF == 0 {
        " (this looks like a big-endian GGUF file, which is not supported)"
    } else if version == 1 {
        " (GGUF v1 is obsolete; convert the model again)"
    } else {
        " (supported versions: 2 and 3)"
    }
}

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
    const fn traits(self) -> Option<(&'static str, u64, u64)> {
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

/// One metadata value. Arrays are homogeneous on disk; the reader always
/// produces homogeneous arrays and the writer rejects mixed ones.
#[derive(Debug, Clone, PartialEq)]
pub enum GgufValue {
    /// `GGUF_TYPE_UINT8`.
    U8(u8),
    /// `GGUF_TYPE_INT8`.
    I8(i8),
    /// `GGUF_TYPE_UINT16`.
    U16(u16),
    /// `GGUF_TYPE_INT16`.
    I16(i16),
    /// `GGUF_TYPE_UINT32`.
    U32(u32),
    /// `GGUF_TYPE_INT32`.
    I32(i32),
    /// `GGUF_TYPE_FLOAT32`.
    F32(f32),
    /// `GGUF_TYPE_BOOL` (one byte; any nonzero byte reads as `true`, as in
    /// llama.cpp).
    Bool(bool),
    /// `GGUF_TYPE_STRING` (UTF-8).
    String(String),
    /// `GGUF_TYPE_ARRAY`. Nested arrays are allowed by the format (each inner
    /// array carries its own element type) but llama.cpp refuses to load them.
    Array(Vec<GgufValue>),
    /// `GGUF_TYPE_UINT64`.
    U64(u64),
    /// `GGUF_TYPE_INT64`.
    I64(i64),
    /// `GGUF_TYPE_FLOAT64`.
    F64(f64),
}

impl GgufValue {
    /// The value as a `u64`, if it is an integer of any width holding a
    /// non-negative value.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Self::U8(v) => Some(v.into()),
            Self::U16(v) => Some(v.into()),
            Self::U32(v) => Some(v.into()),
            Self::U64(v) => Some(v),
            Self::I8(v) => u64::try_from(v).ok(),
            Self::I16(v) => u64::try_from(v).ok(),
            Self::I32(v) => u64::try_from(v).ok(),
            Self::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as an `i64`, if it is an integer of any width that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Self::U8(v) => Some(v.into()),
            Self::U16(v) => Some(v.into()),
            Self::U32(v) => Some(v.into()),
            Self::U64(v) => i64::try_from(v).ok(),
            Self::I8(v) => Some(v.into()),
            Self::I16(v) => Some(v.into()),
            Self::I32(v) => Some(v.into()),
            Self::I64(v) => Some(v),
            _ => None,
        }
    }

    /// The value as an `f64`: floats, and integers converted (64-bit ones
    /// beyond 2^53 lose precision).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Self::F32(v) => Some(v.into()),
            Self::F64(v) => Some(v),
            // `as` is the intended rounding conversion for 64-bit integers.
            Self::U64(v) => Some(v as f64),
            Self::I64(v) => Some(v as f64),
            _ => self.as_i64().map(|v| v as f64),
        }
    }

    /// The value of a `Bool`.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Self::Bool(v) => Some(v),
            _ => None,
        }
    }

    /// The value of a `String`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(v) => Some(v),
            _ => None,
        }
    }

    /// The elements of an `Array`.
    pub fn as_array(&self) -> Option<&[GgufValue]> {
        match self {
            Self::Array(v) => Some(v),
            _ => None,
        }
    }

    /// The type's name as `gguf_type_name` spells it: `"u8"`, `"i8"`,
    /// `"u16"`, `"i16"`, `"u32"`, `"i32"`, `"f32"`, `"bool"`, `"str"`,
    /// `"arr"`, `"u64"`, `"i64"`, `"f64"`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::U8(_) => "u8",
            Self::I8(_) => "i8",
            Self::U16(_) => "u16",
            Self::I16(_) => "i16",
            Self::U32(_) => "u32",
            Self::I32(_) => "i32",
            Self::F32(_) => "f32",
            Self::Bool(_) => "bool",
            Self::String(_) => "str",
            Self::Array(_) => "arr",
            Self::U64(_) => "u64",
            Self::I64(_) => "i64",
            Self::F64(_) => "f64",
        }
    }

    /// The on-disk type id (`enum gguf_type`: 0 = u8 ... 12 = f64).
    pub fn type_id(&self) -> u32 {
        match self {
            Self::U8(_) => T_U8,
            Self::I8(_) => T_I8,
            Self::U16(_) => T_U16,
            Self::I16(_) => T_I16,
            Self::U32(_) => T_U32,
            Self::I32(_) => T_I32,
            Self::F32(_) => T_F32,
            Self::Bool(_) => T_BOOL,
            Self::String(_) => T_STRING,
            Self::Array(_) => T_ARRAY,
            Self::U64(_) => T_U64,
            Self::I64(_) => T_I64,
            Self::F64(_) => T_F64,
        }
    }
}

macro_rules! value_from {
    ($($t:ty => $v:ident),* $(,)?) => {$(
        impl From<$t> for GgufValue {
            fn from(v: $t) -> Self {
                Self::$v(v)
            }
        }
    )*};
}
value_from!(u8 => U8, i8 => I8, u16 => U16, i16 => I16, u32 => U32, i32 => I32, f32 => F32,
    bool => Bool, String => String, Vec<GgufValue> => Array, u64 => U64, i64 => I64, f64 => F64);

impl From<&str> for GgufValue {
    fn from(v: &str) -> Self {
        Self::String(v.to_owned())
    }
}

/// The description of one tensor in a GGUF file.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufTensorInfo {
    /// The tensor's name, e.g. `blk.0.ffn_up.weight`.
    pub name: String,
    /// Elements per dimension, innermost (contiguous) first as in ggml's `ne`.
    /// Missing trailing dimensions are 1.
    pub dims: Vec<u64>,
    /// Element type.
    pub ggml_type: GgmlType,
    /// Start of the tensor's data, relative to the data section
    /// ([`GgufFile::data_offset`]).
    pub offset: u64,
}

impl GgufTensorInfo {
    /// Number of elements (product of `dims`; 1 for no dims, as in ggml).
    /// Saturates on overflow, which a parsed or writer-built info cannot have.
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().fold(1u64, |acc, &d| acc.saturating_mul(d))
    }

    /// Size of the tensor's data in bytes.
    ///
    /// Infos from [`GgufFile`] or [`GgufWriter`] have been validated, so this
    /// is exact for them; for a hand-made invalid info (unknown type, partial
    /// block, overflow) it returns 0 rather than panicking.
    pub fn n_bytes(&self) -> u64 {
        tensor_n_bytes(&self.dims, self.ggml_type).unwrap_or(0)
    }
}

fn tensor_n_bytes(dims: &[u64], ggml_type: GgmlType) -> Option<u64> {
    let n = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))?;
    let (_, block, size) = ggml_type.traits()?;
    let ne0 = dims.first().copied().unwrap_or(1);
    if ne0 % block != 0 {
        return None;
    }
    (n / block).checked_mul(size)
}

/// Checks a shape the way `gguf_init_from_file` does and returns the data
/// size in bytes. `dims` may be empty here (ggml reads that as a scalar);
/// the writer additionally insists on at least one dimension.
fn validate_tensor_shape(name: &str, dims: &[u64], ggml_type: GgmlType) -> Result<u64, GgufError> {
    let invalid = |reason: String| GgufError::InvalidTensor {
        tensor: name.to_owned(),
        reason,
    };
    if name.len() > MAX_TENSOR_NAME_LEN {
        return Err(invalid(format!(
            "name is {} bytes long; ggml allows at most {MAX_TENSOR_NAME_LEN}",
            name.len()
        )));
    }
    if dims.len() > MAX_DIMS {
        return Err(invalid(format!(
            "{} dimensions; ggml allows at most {MAX_DIMS}",
            dims.len()
        )));
    }
    // ggml stores ne as int64_t, so each dimension and the element count
    // must stay representable there.
    let mut n: u64 = 1;
    for &d in dims {
        if d > i64::MAX as u64 {
            return Err(invalid(format!("dimension {d} does not fit in an int64")));
        }
        n = n
            .checked_mul(d)
            .filter(|&n| n < i64::MAX as u64)
            .ok_or_else(|| invalid(format!("shape {dims:?} has too many elements")))?;
    }
    let Some((_, block, size)) = ggml_type.traits() else {
        return Err(GgufError::UnknownTensorType {
            tensor: name.to_owned(),
            type_id: ggml_type.0,
        });
    };
    let ne0 = dims.first().copied().unwrap_or(1);
    if ne0 % block != 0 {
        return Err(invalid(format!(
            "row length {ne0} is not a multiple of the block size {block} of type {ggml_type}"
        )));
    }
    (n / block)
        .checked_mul(size)
        .ok_or_else(|| invalid(format!("size in bytes of shape {dims:?} overflows")))
}

fn align_up(value: u64, alignment: u64) -> Option<u64> {
    value.checked_next_multiple_of(alignment)
}

fn check_alignment(alignment: u64) -> Result<u64, GgufError> {
    if alignment.is_power_of_two() && alignment <= u64::from(u32::MAX) {
        Ok(alignment)
    } else {
        Err(GgufError::InvalidAlignment(alignment))
    }
}

/// The alignment a metadata list asks for, validated like llama.cpp does
/// (which aborts outright if `general.alignment` is not a `u32`).
fn alignment_from_kv(kv: &[(String, GgufValue)]) -> Result<u64, GgufError> {
    match kv
        .iter()
        .find(|(k, _)| k == GGUF_KEY_ALIGNMENT)
        .map(|(_, v)| v)
    {
        None => Ok(GGUF_DEFAULT_ALIGNMENT),
        Some(GgufValue::U32(a)) => check_alignment(u64::from(*a)),
        Some(other) => Err(GgufError::InvalidMetadata {
            key: GGUF_KEY_ALIGNMENT.to_owned(),
            reason: format!("must be a u32, found {}", other.type_name()),
        }),
    }
}

/// A parsed GGUF header: metadata, tensor descriptions and where the tensor
/// data lies. Tensor data itself is not loaded; read it from the file using
/// [`GgufFile::tensor_data_range`].
#[derive(Debug, Clone)]
pub struct GgufFile {
    /// Format version (2 or 3).
    pub version: u32,
    /// Alignment of the data section and of every tensor offset.
    pub alignment: u64,
    /// Metadata in file order. Keys are unique and non-empty.
    pub kv: Vec<(String, GgufValue)>,
    /// Tensor descriptions in file order. Names are unique.
    pub tensors: Vec<GgufTensorInfo>,
    /// Absolute file offset of the data section. Padded to `alignment` when
    /// there is at least one tensor (like llama.cpp's `gguf_get_data_offset`);
    /// otherwise the end of the header.
    pub data_offset: u64,
    /// Total input length when it was known while parsing; every tensor's
    /// data has then been checked to lie within it.
    pub file_len: Option<u64>,
}

impl GgufFile {
    /// Parses the header of the file at `path`. Only the header is read; the
    /// file's length is used to check that all tensor data is present.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, GgufError> {
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        Self::read_header(BufReader::new(file), Some(len))
    }

    /// Parses a header from memory; `bytes` is taken to be the whole file, so
    /// every tensor's data must lie within it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, GgufError> {
        Self::read_header(bytes, Some(bytes.len() as u64))
    }

    /// Parses a header from `reader`, positioned at the start of the file.
    /// Reads exactly up to the end of the tensor descriptions.
    ///
    /// `file_len` is the total length of the file, when known. It bounds every
    /// count and length in the header (so hostile input cannot cause large
    /// allocations) and is used to check that each tensor's data lies inside
    /// the file. Without it counts are bounded by fixed caps and the data
    /// ranges are only checked for overflow.
    ///
    /// Beyond llama.cpp's own checks (magic, version, unique non-empty keys,
    /// value types, `general.alignment` a u32 power of two, unique tensor
    /// names under 64 bytes, at most 4 dims, element count representable,
    /// known type, row length a multiple of the block size) this checks that
    /// offsets are aligned and data lies within the file. Unlike llama.cpp it
    /// does not insist that tensors are packed in file order, and it accepts
    /// nested arrays, which the format allows.
    pub fn read_header<R: Read>(reader: R, file_len: Option<u64>) -> Result<Self, GgufError> {
        let mut src = Source {
            inner: reader,
            pos: 0,
            len: file_len,
        };

        let magic = src.bytes::<4>("magic")?;
        if magic != GGUF_MAGIC {
            return Err(GgufError::NotGguf { magic });
        }
        let version = src.u32("version")?;
        if version != 2 && version != 3 {
            return Err(GgufError::UnsupportedVersion(version));
        }
        let n_tensors = src.u64("tensor count")?;
        let n_kv = src.u64("metadata count")?;
        // Smallest possible encodings: a key-value pair is a key length, a
        // one-byte key, a type and a one-byte value; a tensor info is a name
        // length, n_dims, type and offset.
        src.check_count(
            n_kv,
            8 + 1 + 4 + 1,
            "metadata count",
            "metadata",
            MAX_COUNT_UNKNOWN_LEN,
        )?;
        src.check_count(
            n_tensors,
            8 + 4 + 4 + 8,
            "tensor count",
            "tensor infos",
            MAX_COUNT_UNKNOWN_LEN,
        )?;

        let mut kv = Vec::with_capacity(n_kv.min(MAX_PREALLOC) as usize);
        let mut keys = HashSet::new();
        for _ in 0..n_kv {
            let key = src.string("metadata key")?;
            if key.is_empty() {
                return Err(GgufError::InvalidMetadata {
                    key,
                    reason: "empty key".to_owned(),
                });
            }
            if !keys.insert(key.clone()) {
                return Err(GgufError::DuplicateKey(key));
            }
            let type_id = src.u32("metadata value type")?;
            let value = src.value(type_id, 0)?;
            kv.push((key, value));
        }
        let alignment = alignment_from_kv(&kv)?;

        let mut tensors = Vec::with_capacity(n_tensors.min(MAX_PREALLOC) as usize);
        let mut names = HashSet::new();
        for _ in 0..n_tensors {
            let name = src.string("tensor name")?;
            let n_dims = src.u32("tensor dimension count")?;
            if n_dims as usize > MAX_DIMS {
                return Err(GgufError::InvalidTensor {
                    tensor: name,
                    reason: format!("{n_dims} dimensions; ggml allows at most {MAX_DIMS}"),
                });
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                dims.push(src.u64("tensor dimensions")?);
            }
            let ggml_type = GgmlType(src.u32("tensor type")?);
            let offset = src.u64("tensor offset")?;
            validate_tensor_shape(&name, &dims, ggml_type)?;
            if !names.insert(name.clone()) {
                return Err(GgufError::DuplicateTensor(name));
            }
            tensors.push(GgufTensorInfo {
                name,
                dims,
                ggml_type,
                offset,
            });
        }

        let header_end = src.pos;
        let data_offset = if tensors.is_empty() {
            header_end
        } else {
            let padded = align_up(header_end, alignment).ok_or(GgufError::TooLarge {
                what: "header",
                value: header_end,
            })?;
            if file_len.is_some_and(|len| padded > len) {
                return Err(GgufError::Truncated {
                    what: "padding before the tensor data",
                });
            }
            padded
        };

        for t in &tensors {
            let invalid = |reason: String| GgufError::InvalidTensor {
                tensor: t.name.clone(),
                reason,
            };
            if t.offset % alignment != 0 {
                return Err(invalid(format!(
                    "data offset {} is not a multiple of the alignment {alignment}",
                    t.offset
                )));
            }
            let n_bytes = t.n_bytes();
            let end = data_offset
                .checked_add(t.offset)
                .and_then(|start| start.checked_add(n_bytes))
                .ok_or_else(|| invalid(format!("data offset {} overflows", t.offset)))?;
            if let Some(len) = file_len {
                if end > len {
                    return Err(invalid(format!(
                        "data (bytes {}..{end}) extends past the end of the file ({len} bytes); \
                         is the file truncated?",
                        end - n_bytes
                    )));
                }
            }
        }

        Ok(Self {
            version,
            alignment,
            kv,
            tensors,
            data_offset,
            file_len,
        })
    }

    /// The value of metadata key `key`.
    pub fn get(&self, key: &str) -> Option<&GgufValue> {
        self.kv.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The model architecture (`general.architecture`), e.g. `"llama"`.
    pub fn architecture(&self) -> Option<&str> {
        self.get("general.architecture")?.as_str()
    }

    /// The value of the architecture-specific key `{arch}.{suffix}`, e.g.
    /// `arch_value("block_count")` reads `llama.block_count` in a llama model.
    pub fn arch_value(&self, suffix: &str) -> Option<&GgufValue> {
        self.get(&format!("{}.{suffix}", self.architecture()?))
    }

    /// The description of the tensor named `name`.
    pub fn tensor(&self, name: &str) -> Option<&GgufTensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// Absolute file offsets of `tensor`'s data. Saturates instead of
    /// overflowing for infos that did not come from this file.
    pub fn tensor_data_range(&self, tensor: &GgufTensorInfo) -> Range<u64> {
        let start = self.data_offset.saturating_add(tensor.offset);
        start..start.saturating_add(tensor.n_bytes())
    }
}

/// Byte source that tracks its position and, when the total length is
/// known, refuses reads that cannot fit before they are attempted.
struct Source<R> {
    inner: R,
    pos: u64,
    len: Option<u64>,
}

impl<R: Read> Source<R> {
    fn remaining(&self) -> Option<u64> {
        self.len.map(|len| len.saturating_sub(self.pos))
    }

    fn ensure(&self, n: u64, what: &'static str) -> Result<(), GgufError> {
        match self.remaining() {
            Some(rem) if n > rem => Err(GgufError::Truncated { what }),
            _ => Ok(()),
        }
    }

    /// Rejects a declared count that cannot possibly fit in the rest of the
    /// input, before anything is allocated or looped over for it.
    fn check_count(
        &self,
        count: u64,
        min_item_size: u64,
        what_count: &'static str,
        what_items: &'static str,
        cap_if_unknown: u64,
    ) -> Result<(), GgufError> {
        match self.remaining() {
            Some(rem) => {
                if count > rem / min_item_size {
                    return Err(GgufError::Truncated { what: what_items });
                }
            }
            None => {
                if count > cap_if_unknown {
                    return Err(GgufError::TooLarge {
                        what: what_count,
                        value: count,
                    });
                }
            }
        }
        Ok(())
    }

    fn read_exact(&mut self, buf: &mut [u8], what: &'static str) -> Result<(), GgufError> {
        self.ensure(buf.len() as u64, what)?;
        self.inner.read_exact(buf).map_err(|e| map_eof(e, what))?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    fn bytes<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], GgufError> {
        let mut buf = [0u8; N];
        self.read_exact(&mut buf, what)?;
        Ok(buf)
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, GgufError> {
        self.bytes(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, GgufError> {
        self.bytes(what).map(u64::from_le_bytes)
    }

    fn string(&mut self, what: &'static str) -> Result<String, GgufError> {
        let len = self.u64(what)?;
        if len > MAX_STRING_LEN {
            return Err(GgufError::TooLarge {
                what: "string length",
                value: len,
            });
        }
        self.ensure(len, what)?;
        // Grow with the data actually read rather than trusting `len`, so a
        // stream of unknown length cannot make us allocate a gigabyte up front.
        let mut buf = Vec::with_capacity(len.min(1 << 16) as usize);
        let read = (&mut self.inner)
            .take(len)
            .read_to_end(&mut buf)
            .map_err(|e| map_eof(e, what))?;
        self.pos += read as u64;
        if read as u64 != len {
            return Err(GgufError::Truncated { what });
        }
        String::from_utf8(buf).map_err(|_| GgufError::InvalidString { what })
    }

    fn value(&mut self, type_id: u32, depth: u32) -> Result<GgufValue, GgufError> {
        const WHAT: &str = "metadata value";
        Ok(match type_id {
            T_U8 => GgufValue::U8(u8::from_le_bytes(self.bytes(WHAT)?)),
            T_I8 => GgufValue::I8(i8::from_le_bytes(self.bytes(WHAT)?)),
            T_U16 => GgufValue::U16(u16::from_le_bytes(self.bytes(WHAT)?)),
            T_I16 => GgufValue::I16(i16::from_le_bytes(self.bytes(WHAT)?)),
            T_U32 => GgufValue::U32(u32::from_le_bytes(self.bytes(WHAT)?)),
            T_I32 => GgufValue::I32(i32::from_le_bytes(self.bytes(WHAT)?)),
            T_F32 => GgufValue::F32(f32::from_le_bytes(self.bytes(WHAT)?)),
            T_BOOL => GgufValue::Bool(self.bytes::<1>(WHAT)?[0] != 0),
            T_STRING => GgufValue::String(self.string("metadata string value")?),
            T_U64 => GgufValue::U64(u64::from_le_bytes(self.bytes(WHAT)?)),
            T_I64 => GgufValue::I64(i64::from_le_bytes(self.bytes(WHAT)?)),
            T_F64 => GgufValue::F64(f64::from_le_bytes(self.bytes(WHAT)?)),
            T_ARRAY => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(GgufError::TooLarge {
                        what: "array nesting depth",
                        value: u64::from(depth) + 1,
                    });
                }
                let elem_type = self.u32("array element type")?;
                let min_size =
                    min_encoded_size(elem_type).ok_or(GgufError::UnknownValueType(elem_type))?;
                let n = self.u64("array length")?;
                if n > MAX_ARRAY_LEN {
                    return Err(GgufError::TooLarge {
                        what: "array length",
                        value: n,
                    });
                }
                self.check_count(n, min_size, "array length", "array elements", MAX_ARRAY_LEN)?;
                let mut items = Vec::with_capacity(n.min(MAX_PREALLOC) as usize);
                for _ in 0..n {
                    items.push(self.value(elem_type, depth + 1)?);
                }
                GgufValue::Array(items)
            }
            other => return Err(GgufError::UnknownValueType(other)),
        })
    }
}

/// Fewest bytes one value of the type can take on disk.
fn min_encoded_size(type_id: u32) -> Option<u64> {
    Some(match type_id {
        T_U8 | T_I8 | T_BOOL => 1,
        T_U16 | T_I16 => 2,
        T_U32 | T_I32 | T_F32 => 4,
        T_U64 | T_I64 | T_F64 | T_STRING => 8,
        T_ARRAY => 4 + 8,
        _ => return None,
    })
}

fn map_eof(e: io::Error, what: &'static str) -> GgufError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        GgufError::Truncated { what }
    } else {
        GgufError::Io(e)
    }
}

/// Builds a GGUF file: metadata in insertion order, tensor descriptions with
/// offsets laid out back to back (each padded to the alignment, as
/// llama.cpp expects), then the data, supplied by a callback at write time.
///
/// The alignment is the value of `general.alignment` (a `u32`) in the
/// metadata, or [`GGUF_DEFAULT_ALIGNMENT`]; offsets follow it whenever it
/// changes.
#[derive(Debug, Clone, Default)]
pub struct GgufWriter {
    kv: Vec<(String, GgufValue)>,
    tensors: Vec<GgufTensorInfo>,
}

impl GgufWriter {
    /// An empty writer: no metadata, no tensors, default alignment.
    pub fn new() -> Self {
        Self::default()
    }

    /// A writer holding a copy of `file`'s metadata (in order, including
    /// `general.alignment` and hence the alignment) but none of its tensors.
    pub fn from_file(file: &GgufFile) -> Self {
        Self {
            kv: file.kv.clone(),
            tensors: Vec::new(),
        }
    }

    /// Sets `key` to `value`, keeping the key's position if it exists and
    /// appending it otherwise.
    pub fn set(&mut self, key: impl Into<String>, value: GgufValue) -> &mut Self {
        let key = key.into();
        let realign = key == GGUF_KEY_ALIGNMENT;
        match self.kv.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = value,
            None => self.kv.push((key, value)),
        }
        if realign {
            self.layout();
        }
        self
    }

    /// Removes `key`, returning its value if it was present.
    pub fn remove(&mut self, key: &str) -> Option<GgufValue> {
        let index = self.kv.iter().position(|(k, _)| k == key)?;
        let (_, value) = self.kv.remove(index);
        if key == GGUF_KEY_ALIGNMENT {
            self.layout();
        }
        Some(value)
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&GgufValue> {
        self.kv.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The metadata in the order it will be written.
    pub fn kv(&self) -> &[(String, GgufValue)] {
        &self.kv
    }

    /// The alignment the file will use; errors if `general.alignment` is set
    /// to something llama.cpp would refuse.
    pub fn alignment(&self) -> Result<u64, GgufError> {
        alignment_from_kv(&self.kv)
    }

    /// Sets `general.alignment` (a power of two that fits in a `u32`).
    pub fn set_alignment(&mut self, alignment: u64) -> Result<&mut Self, GgufError> {
        let alignment = check_alignment(alignment)?;
        // check_alignment bounded it to u32.
        let value = u32::try_from(alignment).map_err(|_| GgufError::InvalidAlignment(alignment))?;
        Ok(self.set(GGUF_KEY_ALIGNMENT, GgufValue::U32(value)))
    }

    /// Appends a tensor description. Checks that the name is unique and
    /// short enough for ggml (< 64 bytes), that there are 1 to 4 dimensions,
    /// that the type is known, that the row length is a whole number of
    /// blocks, and that sizes do not overflow.
    pub fn add_tensor(
        &mut self,
        name: impl Into<String>,
        dims: &[u64],
        ggml_type: GgmlType,
    ) -> Result<&mut Self, GgufError> {
        let name = name.into();
        if dims.is_empty() {
            return Err(GgufError::InvalidTensor {
                tensor: name,
                reason: "a tensor needs at least one dimension".to_owned(),
            });
        }
        let n_bytes = validate_tensor_shape(&name, dims, ggml_type)?;
        if self.tensors.iter().any(|t| t.name == name) {
            return Err(GgufError::DuplicateTensor(name));
        }
        let offset = match self.tensors.last() {
            None => 0,
            Some(last) => self.next_offset(last)?,
        };
        // Reject now a tensor whose end could not be padded, rather than
        // failing at write time.
        offset
            .checked_add(n_bytes)
            .and_then(|end| align_up(end, self.layout_alignment()))
            .ok_or(GgufError::TooLarge {
                what: "tensor data section",
                value: offset,
            })?;
        self.tensors.push(GgufTensorInfo {
            name,
            dims: dims.to_vec(),
            ggml_type,
            offset,
        });
        Ok(self)
    }

    /// The tensor descriptions, with the offsets the writer will use.
    pub fn tensors(&self) -> &[GgufTensorInfo] {
        &self.tensors
    }

    /// Alignment used for laying out offsets: invalid settings fall back to
    /// the default here and are reported by [`GgufWriter::write`].
    fn layout_alignment(&self) -> u64 {
        self.alignment().unwrap_or(GGUF_DEFAULT_ALIGNMENT)
    }

    fn next_offset(&self, prev: &GgufTensorInfo) -> Result<u64, GgufError> {
        prev.offset
            .checked_add(prev.n_bytes())
            .and_then(|end| align_up(end, self.layout_alignment()))
            .ok_or(GgufError::TooLarge {
                what: "tensor data section",
                value: prev.offset,
            })
    }

    /// Recomputes all offsets after an alignment change. Overflow saturates
    /// here (it needs exabyte-sized tensors); `write` re-checks the layout.
    fn layout(&mut self) {
        let alignment = self.layout_alignment();
        let mut offset = 0u64;
        for t in &mut self.tensors {
            t.offset = offset;
            offset = offset
                .saturating_add(t.n_bytes())
                .checked_next_multiple_of(alignment)
                .unwrap_or(u64::MAX);
        }
    }

    /// Writes the file: version 3 header, metadata, tensor descriptions,
    /// padding to the alignment, then for each tensor in order calls
    /// `data(index, info, writer)`, which must write exactly
    /// `info.n_bytes()` bytes (else [`GgufError::WrongDataLength`]), and pads
    /// after it. Returns the number of bytes written.
    ///
    /// Everything that can be checked up front (alignment, keys, arrays,
    /// layout) is checked before the first byte is written. `out` receives
    /// many small writes, so give it a `BufWriter` if it is a file.
    ///
    /// An empty array is written with element type string: the format lets
    /// any type carry zero elements, and llama.cpp reads what empty arrays
    /// occur in practice (`general.tags` and the like) as strings.
    pub fn write<W: Write>(
        &self,
        out: W,
        mut data: impl FnMut(usize, &GgufTensorInfo, &mut dyn Write) -> io::Result<()>,
    ) -> Result<u64, GgufError> {
        let alignment = self.alignment()?;
        for (key, value) in &self.kv {
            if key.is_empty() {
                return Err(GgufError::InvalidMetadata {
                    key: String::new(),
                    reason: "empty key".to_owned(),
                });
            }
            check_string_len(key)?;
            check_value(key, value, 0)?;
        }
        let mut expected_offset = 0u64;
        for t in &self.tensors {
            if t.offset != expected_offset {
                return Err(GgufError::TooLarge {
                    what: "tensor data section",
                    value: t.offset,
                });
            }
            expected_offset = t
                .offset
                .checked_add(t.n_bytes())
                .and_then(|end| align_up(end, alignment))
                .ok_or(GgufError::TooLarge {
                    what: "tensor data section",
                    value: t.offset,
                })?;
        }

        let mut w = CountingWriter {
            inner: out,
            count: 0,
        };
        w.write_all(&GGUF_MAGIC)?;
        w.write_all(&GGUF_VERSION.to_le_bytes())?;
        w.write_all(&(self.tensors.len() as u64).to_le_bytes())?;
        w.write_all(&(self.kv.len() as u64).to_le_bytes())?;
        for (key, value) in &self.kv {
            write_str(&mut w, key)?;
            w.write_all(&value.type_id().to_le_bytes())?;
            write_payload(&mut w, value)?;
        }
        for t in &self.tensors {
            write_str(&mut w, &t.name)?;
            // validate_tensor_shape bounded dims.len() to MAX_DIMS.
            w.write_all(&(t.dims.len() as u32).to_le_bytes())?;
            for &d in &t.dims {
                w.write_all(&d.to_le_bytes())?;
            }
            w.write_all(&t.ggml_type.0.to_le_bytes())?;
            w.write_all(&t.offset.to_le_bytes())?;
        }
        w.pad(alignment)?;

        let data_start = w.count;
        for (index, t) in self.tensors.iter().enumerate() {
            debug_assert_eq!(w.count - data_start, t.offset);
            let expected = t.n_bytes();
            let mut limited = LimitedWriter {
                inner: &mut w,
                remaining: expected,
                written: 0,
                overflow: None,
            };
            let result = data(index, t, &mut limited);
            let (written, overflow) = (limited.written, limited.overflow);
            if let Some(attempted) = overflow {
                return Err(GgufError::WrongDataLength {
                    tensor: t.name.clone(),
                    expected,
                    written: written.saturating_add(attempted),
                });
            }
            result?;
            if written != expected {
                return Err(GgufError::WrongDataLength {
                    tensor: t.name.clone(),
                    expected,
                    written,
                });
            }
            w.pad(alignment)?;
        }
        w.flush()?;
        Ok(w.count)
    }
}

fn check_string_len(s: &str) -> Result<(), GgufError> {
    if s.len() as u64 > MAX_STRING_LEN {
        return Err(GgufError::TooLarge {
            what: "string length",
            value: s.len() as u64,
        });
    }
    Ok(())
}

/// Checks a value the reader would accept back: homogeneous arrays within
/// the length and depth limits, strings within the length limit.
fn check_value(key: &str, value: &GgufValue, depth: u32) -> Result<(), GgufError> {
    match value {
        GgufValue::String(s) => check_string_len(s),
        GgufValue::Array(items) => {
            if depth >= MAX_ARRAY_DEPTH {
                return Err(GgufError::TooLarge {
                    what: "array nesting depth",
                    value: u64::from(depth) + 1,
                });
            }
            if items.len() as u64 > MAX_ARRAY_LEN {
                return Err(GgufError::TooLarge {
                    what: "array length",
                    value: items.len() as u64,
                });
            }
            if let Some(first) = items.first() {
                let first = std::mem::discriminant(first);
                if items.iter().any(|v| std::mem::discriminant(v) != first) {
                    return Err(GgufError::MixedArray {
                        key: key.to_owned(),
                    });
                }
            }
            items
                .iter()
                .try_for_each(|v| check_value(key, v, depth + 1))
        }
        _ => Ok(()),
    }
}

fn write_str(w: &mut impl Write, s: &str) -> io::Result<()> {
    w.write_all(&(s.len() as u64).to_le_bytes())?;
    w.write_all(s.as_bytes())
}

/// Writes a value without its type tag (the tag precedes top-level values,
/// and is given once per array for the elements).
fn write_payload(w: &mut impl Write, value: &GgufValue) -> io::Result<()> {
    match value {
        GgufValue::U8(v) => w.write_all(&v.to_le_bytes()),
        GgufValue::I8(v) => w.write_all(&v.to_le_bytes()),
        GgufValue::U16(v) => w.write_all(&v.to_le_bytes()),
        GgufValue::I16(v) => w.write_all(&v.to_le_bytes()),
        GgufValue::U32(v) => w.write_all(&v.to_le_bytes()),
        GgufValue::I32(v) => w.write_all(&v.to_le_bytes()),
        GgufValue::F32(v) => w.write_all(&v.to_le_bytes()),
        GgufValue::Bool(v) => w.write_all(&[u8::from(*v)]),
        GgufValue::String(s) => write_str(w, s),
        GgufValue::U64(v) => w.write_all(&v.to_le_bytes()),
        GgufValue::I64(v) => w.write_all(&v.to_le_bytes()),
        GgufValue::F64(v) => w.write_all(&v.to_le_bytes()),
        GgufValue::Array(items) => {
            let elem_type = items.first().map_or(T_STRING, GgufValue::type_id);
            w.write_all(&elem_type.to_le_bytes())?;
            w.write_all(&(items.len() as u64).to_le_bytes())?;
            items.iter().try_for_each(|v| write_payload(w, v))
        }
    }
}

struct CountingWriter<W> {
    inner: W,
    count: u64,
}

impl<W: Write> CountingWriter<W> {
    fn pad(&mut self, alignment: u64) -> io::Result<()> {
        const ZEROS: [u8; 64] = [0; 64];
        let mut n = self.count.next_multiple_of(alignment) - self.count;
        while n > 0 {
            let chunk = n.min(ZEROS.len() as u64) as usize;
            self.write_all(&ZEROS[..chunk])?;
            n -= chunk as u64;
        }
        Ok(())
    }
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Passes at most `remaining` bytes through; a write beyond that is refused
/// (before anything of it reaches the file) and remembered, so the caller can
/// report [`GgufError::WrongDataLength`] instead of a corrupt layout.
struct LimitedWriter<'a, W> {
    inner: &'a mut W,
    remaining: u64,
    written: u64,
    overflow: Option<u64>,
}

impl<W: Write> Write for LimitedWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() as u64 > self.remaining {
            self.overflow = Some(buf.len() as u64);
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "tensor data callback wrote more bytes than the tensor holds",
            ));
        }
        let n = self.inner.write(buf)?;
        self.remaining -= n as u64;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMOLLM: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/SmolLM2-135M-Instruct.Q4_1.gguf"
    );
    const LLAMA_CPP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../llama-cpp-sys/llama.cpp");

    fn all_scalar_values() -> Vec<(String, GgufValue)> {
        use GgufValue as V;
        vec![
            ("t.u8".into(), V::U8(200)),
            ("t.i8".into(), V::I8(-100)),
            ("t.u16".into(), V::U16(60000)),
            ("t.i16".into(), V::I16(-30000)),
            ("t.u32".into(), V::U32(4_000_000_000)),
            ("t.i32".into(), V::I32(-2_000_000_000)),
            ("t.f32".into(), V::F32(-1.5e-7)),
            ("t.bool".into(), V::Bool(true)),
            ("t.bool_false".into(), V::Bool(false)),
            ("t.str".into(), V::String("héllo ✓ \u{0}".into())),
            ("t.str_empty".into(), V::String(String::new())),
            ("t.u64".into(), V::U64(u64::MAX)),
            ("t.i64".into(), V::I64(i64::MIN)),
            ("t.f64".into(), V::F64(std::f64::consts::PI)),
            ("t.f32_inf".into(), V::F32(f32::INFINITY)),
        ]
    }

    fn all_values() -> Vec<(String, GgufValue)> {
        use GgufValue as V;
        let mut kv = all_scalar_values();
        // One array per element type, including nested ones.
        for (k, v) in all_scalar_values() {
            kv.push((format!("arr.{k}"), V::Array(vec![v.clone(), v.clone(), v])));
        }
        kv.push(("arr.empty".into(), V::Array(vec![])));
        kv.push((
            "arr.nested".into(),
            V::Array(vec![
                V::Array(vec![V::U8(1), V::U8(2)]),
                V::Array(vec![V::String("x".into())]),
                V::Array(vec![]),
                V::Array(vec![V::Array(vec![V::F64(1.0)])]),
            ]),
        ));
        kv
    }

    fn write_to_vec(w: &GgufWriter) -> Vec<u8> {
        let mut out = Vec::new();
        let n = w
            .write(&mut out, |_, info, sink| {
                // Bytes that vary with position and tensor, so misplaced data shows.
                let bytes: Vec<u8> = (0..info.n_bytes())
                    .map(|i| (i as u8).wrapping_mul(7) ^ info.name.len() as u8)
                    .collect();
                sink.write_all(&bytes)
            })
            .expect("write");
        assert_eq!(n, out.len() as u64);
        out
    }

    fn small_file() -> (GgufWriter, Vec<u8>) {
        let mut w = GgufWriter::new();
        w.set("general.architecture", "llama".into());
        w.set("llama.block_count", GgufValue::U32(1));
        w.set("tok", GgufValue::Array(vec!["a".into(), "bc".into()]));
        w.add_tensor("a", &[3], GgmlType::F32).unwrap();
        w.add_tensor("b", &[32, 2], GgmlType::Q4_1).unwrap();
        w.add_tensor("c", &[5, 1, 1], GgmlType::F16).unwrap();
        let bytes = write_to_vec(&w);
        (w, bytes)
    }

    #[test]
    fn round_trip_every_value_type() {
        let mut w = GgufWriter::new();
        for (k, v) in all_values() {
            w.set(k, v);
        }
        let bytes = write_to_vec(&w);
        let f = GgufFile::from_bytes(&bytes).unwrap();
        assert_eq!(f.version, 3);
        assert_eq!(f.alignment, GGUF_DEFAULT_ALIGNMENT);
        assert_eq!(f.kv, all_values());
        assert!(f.tensors.is_empty());
        // Writing what was read gives the same bytes.
        assert_eq!(write_to_vec(&GgufWriter::from_file(&f)), bytes);
    }

    #[test]
    fn empty_array_is_written_as_string_array() {
        let mut w = GgufWriter::new();
        w.set("e", GgufValue::Array(vec![]));
        let bytes = write_to_vec(&w);
        // magic, version, n_tensors, n_kv, key len, "e", T_ARRAY, elem type, len
        let elem_type_at = 4 + 4 + 8 + 8 + 8 + 1 + 4;
        assert_eq!(
            &bytes[elem_type_at..elem_type_at + 4],
            &T_STRING.to_le_bytes()
        );
    }

    #[test]
    fn offsets_are_aligned_and_data_round_trips() {
        for alignment in [None, Some(1u64), Some(64), Some(4096)] {
            let mut w = GgufWriter::new();
            w.set("general.name", "t".into());
            if let Some(a) = alignment {
                w.set_alignment(a).unwrap();
            }
            w.add_tensor("x", &[7], GgmlType::F32).unwrap();
            w.add_tensor("y", &[64, 3], GgmlType::Q8_0).unwrap();
            w.add_tensor("z", &[256, 2, 2, 1], GgmlType::Q4_K).unwrap();
            w.add_tensor("w", &[1], GgmlType::I8).unwrap();
            let a = alignment.unwrap_or(GGUF_DEFAULT_ALIGNMENT);
            let infos = w.tensors().to_vec();
            assert_eq!(infos[1].n_bytes(), 3 * 2 * 34);
            assert_eq!(infos[2].n_bytes(), 4 * 144);
            let bytes = write_to_vec(&w);
            let f = GgufFile::from_bytes(&bytes).unwrap();
            assert_eq!(f.alignment, a);
            assert_eq!(f.data_offset % a, 0);
            assert_eq!(f.tensors, infos);
            let mut expected_offset = 0;
            for t in &f.tensors {
                assert_eq!(t.offset % a, 0);
                assert_eq!(t.offset, expected_offset);
                expected_offset = (t.offset + t.n_bytes()).next_multiple_of(a);
                let r = f.tensor_data_range(t);
                let data = &bytes[r.start as usize..r.end as usize];
                let want: Vec<u8> = (0..t.n_bytes())
                    .map(|i| (i as u8).wrapping_mul(7) ^ t.name.len() as u8)
                    .collect();
                assert_eq!(data, &want[..]);
            }
            assert_eq!(bytes.len() as u64 % a, 0);
        }
    }

    #[test]
    fn alignment_change_relayouts_offsets() {
        let mut w = GgufWriter::new();
        w.add_tensor("a", &[1], GgmlType::F32).unwrap();
        w.add_tensor("b", &[1], GgmlType::F32).unwrap();
        assert_eq!(w.tensors()[1].offset, 32);
        w.set_alignment(256).unwrap();
        assert_eq!(w.tensors()[1].offset, 256);
        w.remove(GGUF_KEY_ALIGNMENT);
        assert_eq!(w.tensors()[1].offset, 32);
        assert!(matches!(
            w.set_alignment(3),
            Err(GgufError::InvalidAlignment(3))
        ));
        w.set(GGUF_KEY_ALIGNMENT, GgufValue::U64(64));
        assert!(matches!(
            w.write(Vec::new(), |_, _, _| Ok(())),
            Err(GgufError::InvalidMetadata { .. })
        ));
        w.set(GGUF_KEY_ALIGNMENT, GgufValue::U32(0));
        assert!(matches!(
            w.write(Vec::new(), |_, _, _| Ok(())),
            Err(GgufError::InvalidAlignment(0))
        ));
    }

    #[test]
    fn set_replaces_in_place_and_remove() {
        let mut w = GgufWriter::new();
        w.set("a", GgufValue::U8(1))
            .set("b", GgufValue::U8(2))
            .set("c", GgufValue::U8(3));
        w.set("b", "two".into());
        let keys: Vec<&str> = w.kv().iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "b", "c"]);
        assert_eq!(w.get("b").and_then(GgufValue::as_str), Some("two"));
        assert_eq!(w.remove("a"), Some(GgufValue::U8(1)));
        assert_eq!(w.remove("a"), None);
        assert_eq!(w.kv().len(), 2);
    }

    #[test]
    fn writer_rejects_bad_input() {
        let mut w = GgufWriter::new();
        w.set(
            "mixed",
            GgufValue::Array(vec![GgufValue::U8(1), GgufValue::I8(1)]),
        );
        assert!(
            matches!(w.write(Vec::new(), |_, _, _| Ok(())), Err(GgufError::MixedArray { key }) if key == "mixed")
        );
        w.set(
            "mixed",
            GgufValue::Array(vec![GgufValue::Array(vec![]), GgufValue::U8(1)]),
        );
        assert!(matches!(
            w.write(Vec::new(), |_, _, _| Ok(())),
            Err(GgufError::MixedArray { .. })
        ));
        w.remove("mixed");
        w.set("", GgufValue::U8(1));
        assert!(matches!(
            w.write(Vec::new(), |_, _, _| Ok(())),
            Err(GgufError::InvalidMetadata { .. })
        ));

        let mut w = GgufWriter::new();
        w.add_tensor("t", &[32], GgmlType::Q4_0).unwrap();
        assert!(matches!(
            w.add_tensor("t", &[32], GgmlType::F32),
            Err(GgufError::DuplicateTensor(_))
        ));
        assert!(matches!(
            w.add_tensor("u", &[], GgmlType::F32),
            Err(GgufError::InvalidTensor { .. })
        ));
        assert!(matches!(
            w.add_tensor("u", &[1, 1, 1, 1, 1], GgmlType::F32),
            Err(GgufError::InvalidTensor { .. })
        ));
        assert!(matches!(
            w.add_tensor("u", &[16, 2], GgmlType::Q4_0),
            Err(GgufError::InvalidTensor { .. })
        ));
        assert!(matches!(
            w.add_tensor("u", &[4], GgmlType(4)),
            Err(GgufError::UnknownTensorType { type_id: 4, .. })
        ));
        assert!(matches!(
            w.add_tensor("u", &[u64::MAX], GgmlType::F32),
            Err(GgufError::InvalidTensor { .. })
        ));
        assert!(matches!(
            w.add_tensor("u", &[1 << 40, 1 << 40], GgmlType::F32),
            Err(GgufError::InvalidTensor { .. })
        ));
        assert!(matches!(
            w.add_tensor("n".repeat(64), &[1], GgmlType::F32),
            Err(GgufError::InvalidTensor { .. })
        ));
        w.add_tensor("n".repeat(63), &[1], GgmlType::F32).unwrap();

        // Data callback writing too little, too much, or failing.
        let short = w.write(Vec::new(), |_, _, sink| sink.write_all(&[0; 3]));
        assert!(matches!(
            short,
            Err(GgufError::WrongDataLength {
                expected: 18,
                written: 3,
                ..
            })
        ));
        let long = w.write(Vec::new(), |_, info, sink| {
            sink.write_all(&vec![0; info.n_bytes() as usize + 1])
        });
        assert!(matches!(
            long,
            Err(GgufError::WrongDataLength {
                expected: 18,
                written: 19,
                ..
            })
        ));
        let failing = w.write(Vec::new(), |_, _, _| Err(io::Error::other("boom")));
        assert!(matches!(failing, Err(GgufError::Io(_))));
    }

    #[test]
    fn value_accessors() {
        use GgufValue as V;
        assert_eq!(V::I32(-1).as_u64(), None);
        assert_eq!(V::I32(5).as_u64(), Some(5));
        assert_eq!(V::U64(u64::MAX).as_u64(), Some(u64::MAX));
        assert_eq!(V::U64(u64::MAX).as_i64(), None);
        assert_eq!(V::I8(-3).as_i64(), Some(-3));
        assert_eq!(V::F32(0.5).as_f64(), Some(0.5));
        assert_eq!(V::U16(7).as_f64(), Some(7.0));
        assert_eq!(V::Bool(true).as_u64(), None);
        assert_eq!(V::Bool(true).as_bool(), Some(true));
        assert_eq!(V::String("s".into()).as_str(), Some("s"));
        assert_eq!(V::Array(vec![V::U8(1)]).as_array(), Some(&[V::U8(1)][..]));
        assert_eq!(V::F64(1.0).as_str(), None);
        let names: Vec<_> = all_scalar_values()
            .iter()
            .map(|(_, v)| v.type_name())
            .collect();
        assert_eq!(
            names[..14],
            [
                "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "bool", "str", "str", "u64",
                "i64", "f64"
            ]
        );
        assert_eq!(V::Array(vec![]).type_name(), "arr");
    }

    #[test]
    fn type_table() {
        assert_eq!(GgmlType::MXFP4, GgmlType(39));
        assert_eq!(GgmlType::Q4_1.name(), Some("q4_1"));
        assert_eq!(GgmlType::Q4_K.name(), Some("q4_K"));
        assert_eq!(GgmlType::Q4_1.row_bytes(576).unwrap(), 18 * 20);
        assert!(GgmlType::Q4_1.row_bytes(33).is_err());
        assert!(GgmlType(31).row_bytes(1).is_err());
        assert_eq!(GgmlType::F32.to_string(), "f32");
        assert_eq!(GgmlType(4).to_string(), "ggml_type(4)");
        for t in GgmlType::ALL {
            assert!(
                t.name().is_some() && t.block_size().is_some() && t.type_size().is_some(),
                "{t:?}"
            );
        }
        // Every id outside ALL is unknown.
        for id in 0..100 {
            assert_eq!(
                GgmlType::ALL.contains(&GgmlType(id)),
                GgmlType(id).name().is_some()
            );
        }
    }

    /// Cross-checks the table against the pinned ggml sources, so a
    /// llama.cpp update that adds or renumbers types fails here. Sizes come
    /// from C `sizeof`s that cannot be evaluated from Rust; they were checked
    /// against a compiled probe of ggml-common.h, and are re-checked here for
    /// the block structs whose layout is a plain sum of fields.
    #[test]
    fn type_table_matches_ggml_sources() {
        let header = std::fs::read_to_string(format!("{LLAMA_CPP}/ggml/include/ggml.h"))
            .expect("llama.cpp sources missing: run scripts/bootstrap.sh");
        let ggml_c = std::fs::read_to_string(format!("{LLAMA_CPP}/ggml/src/ggml.c")).unwrap();
        let enum_start = header.find("enum ggml_type {").unwrap();
        let enum_body = &header[enum_start..enum_start + header[enum_start..].find("};").unwrap()];
        let mut ids = Vec::new();
        for line in enum_body.lines() {
            let line = line.trim();
            let Some(rest) = line.strip_prefix("GGML_TYPE_") else {
                continue;
            };
            let (name, value) = rest.split_once('=').unwrap();
            let name = name.trim();
            let value: u32 = value
                .trim()
                .trim_end_matches(|c: char| !c.is_ascii_digit())
                .split(',')
                .next()
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            if name == "COUNT" {
                // No ids beyond the ones we know.
                assert!(GgmlType::ALL.iter().all(|t| t.0 < value));
                continue;
            }
            ids.push((name.to_owned(), value));
        }
        assert_eq!(ids.len(), GgmlType::ALL.len(), "{ids:?}");
        for (name, id) in ids {
            let t = GgmlType(id);
            let ours = t
                .name()
                .unwrap_or_else(|| panic!("GGML_TYPE_{name} = {id} missing"));
            assert_eq!(ours.to_ascii_uppercase(), name, "id {id}");
            // The type_traits entry for this type: "[GGML_TYPE_X] = {", then
            // ".type_name = "x"," and ".blck_size = N,".
            let entry = ggml_c.find(&format!("[GGML_TYPE_{name}] = {{")).unwrap();
            let entry = &ggml_c[entry..entry + 400];
            let field = |f: &str| -> String {
                let after = entry.split(f).nth(1).unwrap();
                after
                    .split(',')
                    .next()
                    .unwrap()
                    .trim_start_matches([' ', '='])
                    .trim()
                    .to_owned()
            };
            assert_eq!(field(".type_name"), format!("\"{ours}\""), "{name}");
            let blck = field(".blck_size");
            let expected_blck = match blck.as_str() {
                "1" => 1,
                "QK_K" => 256,
                "QK4_0" | "QK4_1" | "QK5_0" | "QK5_1" | "QK8_0" | "QK8_1" | "QK4_NL"
                | "QK_MXFP4" => 32,
                "QK_NVFP4" | "QK2_0" => 64,
                "QK1_0" => 128,
                other => panic!("unknown block size macro {other}"),
            };
            assert_eq!(t.block_size(), Some(expected_blck), "{name}");
        }
    }

    #[test]
    fn parse_real_model() {
        assert!(
            Path::new(SMOLLM).exists(),
            "{SMOLLM} missing: run scripts/bootstrap.sh"
        );
        let f = GgufFile::open(SMOLLM).unwrap();
        assert_eq!(f.architecture(), Some("llama"));
        assert_eq!(
            f.arch_value("block_count").and_then(GgufValue::as_u64),
            Some(30)
        );
        assert_eq!(f.get("llama.block_count"), f.arch_value("block_count"));
        assert_eq!(
            f.arch_value("embedding_length").and_then(GgufValue::as_u64),
            Some(576)
        );
        assert_eq!(f.tensors.len(), 272);
        let up = f.tensor("blk.0.ffn_up.weight").unwrap();
        assert_eq!(up.dims, [576, 1536]);
        assert_eq!(up.ggml_type, GgmlType::Q4_1);
        assert_eq!(up.n_bytes(), 576 / 32 * 20 * 1536);
        let len = std::fs::metadata(SMOLLM).unwrap().len();
        assert_eq!(f.file_len, Some(len));
        let last_end = f
            .tensors
            .iter()
            .map(|t| f.tensor_data_range(t).end)
            .max()
            .unwrap();
        assert!(last_end <= len);
        assert_eq!(
            f.tensors.last().map(|t| f.tensor_data_range(t).end),
            Some(last_end)
        );
        let tokens = f
            .get("tokenizer.ggml.tokens")
            .and_then(GgufValue::as_array)
            .unwrap();
        assert_eq!(tokens.len(), 49152);

        // Re-writing the header reproduces the original bytes exactly.
        let original = std::fs::read(SMOLLM).unwrap();
        let mut w = GgufWriter::from_file(&f);
        for t in &f.tensors {
            w.add_tensor(t.name.clone(), &t.dims, t.ggml_type).unwrap();
        }
        assert_eq!(w.tensors(), &f.tensors[..]);
        let mut out = Vec::new();
        w.write(&mut out, |_, t, sink| {
            let r = f.tensor_data_range(t);
            sink.write_all(&original[r.start as usize..r.end as usize])
        })
        .unwrap();
        assert_eq!(out.len(), original.len());
        assert!(out == original, "rewritten file differs");
    }

    #[test]
    fn truncation_anywhere_is_an_error() {
        let (w, bytes) = small_file();
        let f = GgufFile::from_bytes(&bytes).unwrap();
        assert_eq!(f.tensors, w.tensors());
        let data_end = f
            .tensors
            .iter()
            .map(|t| f.tensor_data_range(t).end)
            .max()
            .unwrap() as usize;
        let infos_end = header_len(&bytes);
        for cut in 0..data_end {
            let r = GgufFile::from_bytes(&bytes[..cut]);
            assert!(r.is_err(), "cut at {cut} parsed");
            // Without a known length only the header itself can be found
            // missing; that must be reported as truncation, not garbage.
            if cut < infos_end {
                let r = GgufFile::read_header(&bytes[..cut], None);
                assert!(
                    matches!(r, Err(GgufError::Truncated { .. })),
                    "cut at {cut}: {r:?}"
                );
            }
        }
        // The padding after the last tensor is not needed.
        assert!(GgufFile::from_bytes(&bytes[..data_end]).is_ok());
    }

    /// Where the reader stops when it does not know the length: the end of
    /// the tensor infos.
    fn header_len(bytes: &[u8]) -> usize {
        let mut rest = bytes;
        GgufFile::read_header(&mut rest, None).unwrap();
        bytes.len() - rest.len()
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            // xorshift64*
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let (_, valid) = small_file();
        let mut values = GgufWriter::new();
        for (k, v) in all_values() {
            values.set(k, v);
        }
        values.add_tensor("t", &[32, 2], GgmlType::Q8_0).unwrap();
        let valid2 = write_to_vec(&values);
        let mut accepted = 0;
        for i in 0..20_000 {
            let input: Vec<u8> = match i % 4 {
                // Pure noise.
                0 => (0..rng.below(200)).map(|_| rng.next() as u8).collect(),
                // Valid prefix, noise after it.
                1 => {
                    let mut v = b"GGUF\x03\0\0\0".to_vec();
                    let n_t = rng.below(4);
                    let n_kv = rng.below(4);
                    v.extend_from_slice(&n_t.to_le_bytes());
                    v.extend_from_slice(&n_kv.to_le_bytes());
                    v.extend((0..rng.below(300)).map(|_| {
                        // Mostly small bytes so lengths and types look plausible.
                        if rng.below(3) == 0 {
                            rng.next() as u8
                        } else {
                            rng.below(10) as u8
                        }
                    }));
                    v
                }
                // Mutations of valid files.
                _ => {
                    let mut v = if i % 4 == 2 {
                        valid.clone()
                    } else {
                        valid2.clone()
                    };
                    for _ in 0..1 + rng.below(4) {
                        let at = rng.below(v.len() as u64) as usize;
                        v[at] = match rng.below(4) {
                            0 => 0xFF,
                            1 => 0,
                            2 => v[at].wrapping_add(1),
                            _ => rng.next() as u8,
                        };
                    }
                    if rng.below(4) == 0 {
                        v.truncate(rng.below(v.len() as u64) as usize);
                    }
                    v
                }
            };
            if let Ok(f) = GgufFile::from_bytes(&input) {
                accepted += 1;
                for t in &f.tensors {
                    assert!(f.tensor_data_range(t).end <= input.len() as u64);
                    assert_eq!(t.offset % f.alignment, 0);
                }
            }
            let _ = GgufFile::read_header(&input[..], None);
        }
        assert!(accepted > 0);
    }

    fn raw_header(n_tensors: u64, n_kv: u64) -> Vec<u8> {
        let mut v = GGUF_MAGIC.to_vec();
        v.extend_from_slice(&3u32.to_le_bytes());
        v.extend_from_slice(&n_tensors.to_le_bytes());
        v.extend_from_slice(&n_kv.to_le_bytes());
        v
    }

    fn raw_str(v: &mut Vec<u8>, s: &str) {
        v.extend_from_slice(&(s.len() as u64).to_le_bytes());
        v.extend_from_slice(s.as_bytes());
    }

    fn raw_tensor(v: &mut Vec<u8>, name: &str, dims: &[u64], ty: u32, offset: u64) {
        raw_str(v, name);
        v.extend_from_slice(&(dims.len() as u32).to_le_bytes());
        for d in dims {
            v.extend_from_slice(&d.to_le_bytes());
        }
        v.extend_from_slice(&ty.to_le_bytes());
        v.extend_from_slice(&offset.to_le_bytes());
    }

    fn with_data(mut v: Vec<u8>, data: usize) -> Vec<u8> {
        v.resize(v.len().next_multiple_of(32) + data, 0);
        v
    }

    #[test]
    fn reader_rejects_malformed_headers() {
        let err = |v: &[u8]| GgufFile::from_bytes(v).unwrap_err();
        assert!(
            matches!(err(b"GGML\x03\0\0\0"), GgufError::NotGguf { magic } if &magic == b"GGML")
        );
        assert!(err(b"\0\x01GG").to_string().contains("\\x00\\x01GG"));
        let mut v = raw_header(0, 0);
        v[4] = 1;
        assert!(matches!(err(&v), GgufError::UnsupportedVersion(1)));
        v[4..8].copy_from_slice(&0x0300_0000u32.to_le_bytes());
        assert!(err(&v).to_string().contains("big-endian"));
        assert!(GgufFile::from_bytes(&raw_header(0, 0)).is_ok());
        let mut v2 = raw_header(0, 0);
        v2[4] = 2;
        assert_eq!(GgufFile::from_bytes(&v2).unwrap().version, 2);
        assert!(matches!(
            err(&raw_header(0, u64::MAX)),
            GgufError::Truncated { .. }
        ));
        assert!(matches!(
            err(&raw_header(u64::MAX, 0)),
            GgufError::Truncated { .. }
        ));
        assert!(matches!(
            GgufFile::read_header(&raw_header(0, u64::MAX)[..], None),
            Err(GgufError::TooLarge { .. })
        ));

        // Duplicate key, empty key, unknown value type, bad alignment.
        let mut v = raw_header(0, 2);
        for _ in 0..2 {
            raw_str(&mut v, "k");
            v.extend_from_slice(&T_U8.to_le_bytes());
            v.push(1);
        }
        assert!(matches!(err(&v), GgufError::DuplicateKey(k) if k == "k"));
        let mut v = raw_header(0, 1);
        raw_str(&mut v, "");
        v.extend_from_slice(&T_U8.to_le_bytes());
        v.extend_from_slice(&[1; 8]);
        assert!(matches!(err(&v), GgufError::InvalidMetadata { .. }));
        let mut v = raw_header(0, 1);
        raw_str(&mut v, "k");
        v.extend_from_slice(&13u32.to_le_bytes());
        v.push(1);
        assert!(matches!(err(&v), GgufError::UnknownValueType(13)));
        let mut v = raw_header(0, 1);
        raw_str(&mut v, GGUF_KEY_ALIGNMENT);
        v.extend_from_slice(&T_U32.to_le_bytes());
        v.extend_from_slice(&48u32.to_le_bytes());
        assert!(matches!(err(&v), GgufError::InvalidAlignment(48)));
        // Invalid UTF-8.
        let mut v = raw_header(0, 1);
        v.extend_from_slice(&2u64.to_le_bytes());
        v.extend_from_slice(&[0xC3, 0x28]);
        v.extend_from_slice(&T_U8.to_le_bytes());
        v.extend_from_slice(&[1; 8]);
        assert!(matches!(err(&v), GgufError::InvalidString { .. }));
        // Huge string and array lengths.
        let mut v = raw_header(0, 1);
        v.extend_from_slice(&u64::MAX.to_le_bytes());
        v.extend_from_slice(&[0; 16]);
        assert!(matches!(
            err(&v),
            GgufError::TooLarge {
                what: "string length",
                ..
            }
        ));
        let mut v = raw_header(0, 1);
        raw_str(&mut v, "k");
        v.extend_from_slice(&T_ARRAY.to_le_bytes());
        v.extend_from_slice(&T_U8.to_le_bytes());
        v.extend_from_slice(&(1u64 << 29).to_le_bytes());
        assert!(matches!(err(&v), GgufError::Truncated { .. }));
        assert!(matches!(
            GgufFile::read_header(&v[..], None),
            Err(GgufError::Truncated { .. })
        ));
        // Nesting deeper than the limit.
        let mut v = raw_header(0, 1);
        raw_str(&mut v, "k");
        v.extend_from_slice(&T_ARRAY.to_le_bytes());
        for _ in 0..100 {
            v.extend_from_slice(&T_ARRAY.to_le_bytes());
            v.extend_from_slice(&1u64.to_le_bytes());
        }
        assert!(matches!(
            err(&v),
            GgufError::TooLarge {
                what: "array nesting depth",
                ..
            }
        ));

        // Tensor checks.
        let tensor_err = |name: &str, dims: &[u64], ty: u32, offset: u64, data: usize| {
            let mut v = raw_header(1, 0);
            raw_tensor(&mut v, name, dims, ty, offset);
            GgufFile::from_bytes(&with_data(v, data)).unwrap_err()
        };
        assert!(matches!(
            tensor_err("t", &[1, 1, 1, 1, 1], 0, 0, 4),
            GgufError::InvalidTensor { .. }
        ));
        assert!(matches!(
            tensor_err("t", &[4], 5, 0, 64),
            GgufError::UnknownTensorType { type_id: 5, .. }
        ));
        assert!(matches!(
            tensor_err("t", &[16], GgmlType::Q4_0.0, 0, 64),
            GgufError::InvalidTensor { .. }
        ));
        assert!(matches!(
            tensor_err("t", &[4], 0, 8, 64),
            GgufError::InvalidTensor { .. }
        ));
        assert!(matches!(
            tensor_err("t", &[4], 0, 0, 15),
            GgufError::InvalidTensor { .. }
        ));
        assert!(matches!(
            tensor_err("t", &[1 << 62, 4], 0, 0, 15),
            GgufError::InvalidTensor { .. }
        ));
        assert!(matches!(
            tensor_err("t", &[u64::MAX], 0, 0, 15),
            GgufError::InvalidTensor { .. }
        ));
        assert!(matches!(
            tensor_err("t", &[4], 0, u64::MAX - 31, 16),
            GgufError::InvalidTensor { .. }
        ));
        assert!(matches!(
            tensor_err(&"n".repeat(64), &[4], 0, 0, 16),
            GgufError::InvalidTensor { .. }
        ));
        let e = tensor_err("t", &[4], 0, 0, 15);
        assert!(e.to_string().contains("past the end"), "{e}");
        // Zero-sized and zero-dim tensors are fine, as in ggml.
        let mut v = raw_header(2, 0);
        raw_tensor(&mut v, "zero", &[4, 0], 0, 0);
        raw_tensor(&mut v, "scalar", &[], 0, 0);
        let f = GgufFile::from_bytes(&with_data(v, 4)).unwrap();
        assert_eq!(f.tensors[0].n_bytes(), 0);
        assert_eq!(f.tensors[1].n_elements(), 1);
        assert_eq!(f.tensors[1].n_bytes(), 4);
        // Duplicate tensor names.
        let mut v = raw_header(2, 0);
        raw_tensor(&mut v, "t", &[4], 0, 0);
        raw_tensor(&mut v, "t", &[4], 0, 32);
        assert!(
            matches!(GgufFile::from_bytes(&with_data(v, 64)), Err(GgufError::DuplicateTensor(n)) if n == "t")
        );
    }

    #[test]
    fn io_errors_are_not_truncation() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        assert!(matches!(
            GgufFile::read_header(Failing, None),
            Err(GgufError::Io(_))
        ));
    }
}
