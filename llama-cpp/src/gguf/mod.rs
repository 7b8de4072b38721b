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
// Pure Rust: no unsafe code outside the one test that compares the type table
// with the ggml this crate links (tests.rs), which has to call C.
#![cfg_attr(not(test), forbid(unsafe_code))]
#![cfg_attr(test, deny(unsafe_code))]

mod error;
mod reader;
mod tensor;
mod types;
mod value;
mod writer;

#[cfg(test)]
mod tests;

pub use error::GgufError;
pub use reader::GgufFile;
pub use tensor::GgufTensorInfo;
pub use types::GgmlType;
pub use value::GgufValue;
pub use writer::GgufWriter;

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

// The alignment rules, shared by the reader and the writer.

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
