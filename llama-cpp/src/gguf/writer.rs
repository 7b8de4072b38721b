//! The streaming GGUF writer.

use std::io::{self, Write};

use super::tensor::validate_tensor_shape;
use super::value::T_STRING;
use super::{
    align_up, alignment_from_kv, check_alignment, GgmlType, GgufError, GgufFile, GgufTensorInfo,
    GgufValue, GGUF_DEFAULT_ALIGNMENT, GGUF_KEY_ALIGNMENT, GGUF_MAGIC, GGUF_VERSION,
    MAX_ARRAY_DEPTH, MAX_ARRAY_LEN, MAX_STRING_LEN,
};

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
