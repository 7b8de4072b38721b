//! [`TensorRegex`]: a tensor-name pattern compiled by the same `std::regex`
//! as llama.cpp's loader (a C++ shim), so a pattern is validated when it is
//! added and matches here exactly as it will during a load.

use crate::error::{to_cstring, LlamaError, Result};
use crate::sys;
use std::ffi::{CStr, CString};
use std::fmt;
use std::ptr::NonNull;

/// A compiled tensor-name pattern with llama.cpp's exact semantics:
/// `std::regex` (ECMAScript) matched with `std::regex_search`.
pub struct TensorRegex {
    raw: NonNull<sys::llama_rs_regex>,
    pattern: String,
}

// SAFETY: the compiled std::regex is never mutated after construction and
// std::regex_search on a const regex is thread-safe.
unsafe impl Send for TensorRegex {}
// SAFETY: as above.
unsafe impl Sync for TensorRegex {}

impl TensorRegex {
    /// Compiles `pattern` as llama.cpp's loader will.
    pub fn new(pattern: &str) -> Result<Self> {
        let c_pattern = to_cstring("tensor override pattern", pattern)?;
        let mut error = [0 as std::os::raw::c_char; 512];
        // SAFETY: the pattern is a valid C string and `error` is writable for
        // its full length; the shim catches every C++ exception.
        let raw =
            unsafe { sys::llama_rs_regex_new(c_pattern.as_ptr(), error.as_mut_ptr(), error.len()) };
        match NonNull::new(raw) {
            Some(raw) => Ok(Self {
                raw,
                pattern: pattern.to_owned(),
            }),
            None => {
                // SAFETY: the shim NUL-terminates `error` within its length.
                let reason = unsafe { CStr::from_ptr(error.as_ptr()) }
                    .to_string_lossy()
                    .into_owned();
                Err(LlamaError::InvalidPattern {
                    pattern: pattern.to_owned(),
                    reason,
                })
            }
        }
    }

    /// Whether the pattern is found anywhere in `name`. A name with a NUL
    /// cannot be a tensor name and never matches.
    pub fn is_match(&self, name: &str) -> bool {
        let Ok(c_name) = CString::new(name) else {
            return false;
        };
        // SAFETY: `raw` is a live compiled regex owned by self; the name is a
        // valid C string for the duration of the call.
        unsafe { sys::llama_rs_regex_search(self.raw.as_ptr(), c_name.as_ptr()) == 1 }
    }

    /// The source pattern.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }
}

impl Drop for TensorRegex {
    fn drop(&mut self) {
        // SAFETY: `raw` came from llama_rs_regex_new and is freed only here.
        unsafe { sys::llama_rs_regex_free(self.raw.as_ptr()) }
    }
}

impl fmt::Debug for TensorRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TensorRegex").field(&self.pattern).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offload::{BufferType, TensorOverride};

    #[test]
    fn invalid_and_nul_patterns_are_errors() {
        assert!(matches!(
            TensorRegex::new("ffn_(up"),
            Err(LlamaError::InvalidPattern { .. })
        ));
        assert!(matches!(
            TensorRegex::new("a\0b"),
            Err(LlamaError::InteriorNul { position: 1, .. })
        ));
        assert!(matches!(
            TensorOverride::new("[", BufferType::Cpu),
            Err(LlamaError::InvalidPattern { .. })
        ));
    }
}
