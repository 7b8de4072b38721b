//! [`TensorOverride`], one `pattern=buffer type` entry, and `OverrideArray`,
//! the NULL-terminated C array of them that llama.cpp's loader reads, owned
//! together with the strings it points into.

use super::buffer_type::BuftPtr;
use super::{BufferType, TensorRegex};
use crate::error::Result;
use crate::sys;
use std::ffi::CString;
use std::fmt;

/// One override: a pattern and the buffer type its tensors go to.
#[derive(Clone, PartialEq, Eq)]
pub struct TensorOverride {
    pattern: String,
    buffer_type: BufferType,
    pub(super) buft: BuftPtr,
}

impl TensorOverride {
    /// Validates the pattern and resolves the buffer type.
    pub fn new(pattern: &str, buffer_type: BufferType) -> Result<Self> {
        TensorRegex::new(pattern)?;
        let buft = buffer_type.resolve()?;
        Ok(Self {
            pattern: pattern.to_owned(),
            buffer_type,
            buft,
        })
    }

    /// The pattern.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The buffer type as requested.
    pub fn buffer_type(&self) -> &BufferType {
        &self.buffer_type
    }

    /// ggml's name of the resolved buffer type (e.g. `CPU`, `CUDA0`).
    pub fn buffer_type_name(&self) -> String {
        self.buft.name()
    }

    /// The device owning the resolved buffer type (`CPU` for host memory).
    pub(crate) fn device_name(&self) -> String {
        self.buft.device_name()
    }
}

impl fmt::Debug for TensorOverride {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}={}", self.pattern, self.buft.name())
    }
}

/// The NULL-terminated `llama_model_tensor_buft_override` array and the
/// pattern strings it points into, owned together and never mutated, so
/// the pointers stay valid for as long as the storage lives (it is shared
/// through an `Arc` by the params, their clones and every loaded model).
pub(crate) struct OverrideArray {
    overrides: Vec<TensorOverride>,
    // Heap buffers of these CStrings are what `raw[i].pattern` points to;
    // moving the Vec or this struct does not move them.
    _patterns: Vec<CString>,
    raw: Vec<sys::llama_model_tensor_buft_override>,
}

// SAFETY: `raw` only points into `_patterns` (owned, immutable) and at static
// buffer types; nothing is mutated after construction.
unsafe impl Send for OverrideArray {}
// SAFETY: as above; shared access is read-only.
unsafe impl Sync for OverrideArray {}

impl OverrideArray {
    pub(crate) fn new(overrides: Vec<TensorOverride>) -> Self {
        let patterns: Vec<CString> = overrides
            .iter()
            .map(|o| CString::new(o.pattern.as_str()).expect("validated in TensorOverride::new"))
            .collect();
        let mut raw: Vec<_> = overrides
            .iter()
            .zip(&patterns)
            .map(|(o, p)| sys::llama_model_tensor_buft_override {
                pattern: p.as_ptr(),
                buft: o.buft.0.as_ptr(),
            })
            .collect();
        raw.push(sys::llama_model_tensor_buft_override {
            pattern: std::ptr::null(),
            buft: std::ptr::null_mut(),
        });
        Self {
            overrides,
            _patterns: patterns,
            raw,
        }
    }

    pub(crate) fn overrides(&self) -> &[TensorOverride] {
        &self.overrides
    }

    /// NULL when empty (llama.cpp's default), else the terminated array.
    pub(crate) fn as_ptr(&self) -> *const sys::llama_model_tensor_buft_override {
        if self.overrides.is_empty() {
            std::ptr::null()
        } else {
            self.raw.as_ptr()
        }
    }
}

impl Default for OverrideArray {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}
