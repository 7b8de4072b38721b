//! The header parser, hardened for untrusted input.

use std::collections::HashSet;
use std::io::{self, BufReader, Read};
use std::ops::Range;
use std::path::Path;

use super::tensor::validate_tensor_shape;
use super::value::{
    T_ARRAY, T_BOOL, T_F32, T_F64, T_I16, T_I32, T_I64, T_I8, T_STRING, T_U16, T_U32, T_U64, T_U8,
};
use super::{
    align_up, alignment_from_kv, GgmlType, GgufError, GgufTensorInfo, GgufValue, GGUF_MAGIC,
    MAX_ARRAY_DEPTH, MAX_ARRAY_LEN, MAX_DIMS, MAX_STRING_LEN,
};

/// Bound on the tensor and key-value counts when the input length is unknown,
/// so a lying header cannot make the parser loop for ages on a stream.
const MAX_COUNT_UNKNOWN_LEN: u64 = 1 << 24;

/// Cap on speculative allocation from a declared count: beyond this, vectors
/// grow only as elements are actually read.
const MAX_PREALLOC: u64 = 4096;

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
