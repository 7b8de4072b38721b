//! Tensor descriptions and the shape checks llama.cpp applies to them.

use super::{GgmlType, GgufError, MAX_DIMS, MAX_TENSOR_NAME_LEN};

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
    /// ([`GgufFile::data_offset`](super::GgufFile::data_offset)).
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
    /// Infos from [`GgufFile`](super::GgufFile) or [`GgufWriter`](super::GgufWriter)
    /// have been validated, so this is exact for them; for a hand-made invalid
    /// info (unknown type, partial block, overflow) it returns 0 rather than
    /// panicking.
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
pub(super) fn validate_tensor_shape(
    name: &str,
    dims: &[u64],
    ggml_type: GgmlType,
) -> Result<u64, GgufError> {
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
