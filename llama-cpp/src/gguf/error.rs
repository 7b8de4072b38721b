//! The error type of the GGUF reader and writer.

use std::io;

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
    /// A [`GgufWriter::write`](super::GgufWriter::write) data callback wrote the
    /// wrong number of bytes.
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
