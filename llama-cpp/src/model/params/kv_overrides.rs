//! llama-cpp-2's form of a GGUF metadata override (`llama_cpp_2::model::params::kv_overrides`).
//!
//! [`ParamOverrideValue`] here is `Copy` and holds a string as llama.cpp's fixed 128-byte
//! buffer, as in llama-cpp-2, for
//! [`LlamaModelParams::append_kv_override`](super::LlamaModelParams::append_kv_override).
//! This crate's own builder,
//! [`LlamaModelParams::with_kv_override`](super::LlamaModelParams::with_kv_override), takes
//! [`super::ParamOverrideValue`] with a `String`; `TryFrom` converts between the two.
//!
//! The file is also where every KV override ends up: `KvOverrideArray`, the terminated
//! `llama_model_kv_override` array that llama.cpp's loader reads, built from this crate's
//! values (llama-cpp-2's are converted first).

use crate::error::{LlamaError, Result};
use crate::sys;
use std::os::raw::c_char;

/// A value overriding a GGUF metadata key at load time (llama-cpp-2's type).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParamOverrideValue {
    /// A boolean.
    Bool(bool),
    /// A float.
    Float(f64),
    /// An integer.
    Int(i64),
    /// A NUL-terminated string in llama.cpp's fixed buffer: at most 127 bytes before the NUL.
    Str([c_char; 128]),
}

impl TryFrom<ParamOverrideValue> for super::ParamOverrideValue {
    type Error = LlamaError;

    /// Fails for a string buffer without a NUL (llama.cpp would read past it) or whose bytes
    /// before the NUL are not UTF-8.
    fn try_from(value: ParamOverrideValue) -> Result<Self> {
        Ok(match value {
            ParamOverrideValue::Bool(v) => Self::Bool(v),
            ParamOverrideValue::Float(v) => Self::Float(v),
            ParamOverrideValue::Int(v) => Self::Int(v),
            ParamOverrideValue::Str(buf) => {
                // `c_char` is i8 or u8 depending on the target: reinterpret, do not convert.
                let bytes: Vec<u8> = buf.iter().map(|&c| c as u8).collect();
                let end = bytes.iter().position(|&b| b == 0).ok_or_else(|| {
                    LlamaError::InvalidParameter {
                        name: "kv override value",
                        reason: "the string buffer has no NUL terminator".into(),
                    }
                })?;
                let text = String::from_utf8(bytes[..end].to_vec()).map_err(|err| {
                    LlamaError::InvalidParameter {
                        name: "kv override value",
                        reason: format!("the string is not UTF-8: {err}"),
                    }
                })?;
                Self::Str(text)
            }
        })
    }
}

impl TryFrom<super::ParamOverrideValue> for ParamOverrideValue {
    type Error = LlamaError;

    /// Fails for a string of 128 bytes or more, or one with a NUL byte.
    fn try_from(value: super::ParamOverrideValue) -> Result<Self> {
        Ok(match value {
            super::ParamOverrideValue::Bool(v) => Self::Bool(v),
            super::ParamOverrideValue::Float(v) => Self::Float(v),
            super::ParamOverrideValue::Int(v) => Self::Int(v),
            super::ParamOverrideValue::Str(text) => {
                if let Some(position) = text.bytes().position(|b| b == 0) {
                    return Err(LlamaError::InteriorNul {
                        what: "kv override value",
                        position,
                    });
                }
                if text.len() >= 128 {
                    return Err(LlamaError::InvalidParameter {
                        name: "kv override value",
                        reason: "must be shorter than 128 bytes".into(),
                    });
                }
                let mut buf = [0 as c_char; 128];
                for (dst, src) in buf.iter_mut().zip(text.bytes()) {
                    // Reinterpreted, as above.
                    *dst = src as c_char;
                }
                Self::Str(buf)
            }
        })
    }
}

/// The C array of this crate's KV overrides, terminated by an entry with an empty key, owned
/// with the entries it was built from. It lives behind an `Arc`: the params, their clones and
/// the loaded models share it, so the pointer stays valid whatever the caller does with the
/// params.
#[derive(Default)]
pub(super) struct KvOverrideArray {
    entries: Vec<(String, super::ParamOverrideValue)>,
    raw: Vec<sys::llama_model_kv_override>,
}

// SAFETY: plain data (fixed-size arrays and numbers), no pointers.
unsafe impl Send for KvOverrideArray {}
// SAFETY: as above; immutable after construction.
unsafe impl Sync for KvOverrideArray {}

impl KvOverrideArray {
    pub(super) fn new(entries: Vec<(String, super::ParamOverrideValue)>) -> Self {
        let mut raw: Vec<sys::llama_model_kv_override> = entries
            .iter()
            .map(|(key, value)| {
                // SAFETY: an all-zero llama_model_kv_override is valid plain data.
                let mut item: sys::llama_model_kv_override = unsafe { std::mem::zeroed() };
                copy_c_string(&mut item.key, key);
                match value {
                    super::ParamOverrideValue::Int(v) => {
                        item.tag = sys::LLAMA_KV_OVERRIDE_TYPE_INT;
                        item.__bindgen_anon_1.val_i64 = *v;
                    }
                    super::ParamOverrideValue::Float(v) => {
                        item.tag = sys::LLAMA_KV_OVERRIDE_TYPE_FLOAT;
                        item.__bindgen_anon_1.val_f64 = *v;
                    }
                    super::ParamOverrideValue::Bool(v) => {
                        item.tag = sys::LLAMA_KV_OVERRIDE_TYPE_BOOL;
                        item.__bindgen_anon_1.val_bool = *v;
                    }
                    super::ParamOverrideValue::Str(v) => {
                        item.tag = sys::LLAMA_KV_OVERRIDE_TYPE_STR;
                        // SAFETY: writing the str member of a zeroed union.
                        copy_c_string(unsafe { &mut item.__bindgen_anon_1.val_str }, v);
                    }
                }
                item
            })
            .collect();
        // The loader stops at the first entry whose key is empty.
        // SAFETY: an all-zero entry is the terminator llama.cpp expects.
        raw.push(unsafe { std::mem::zeroed() });
        Self { entries, raw }
    }

    /// The entries, in the order the loader sees them.
    pub(super) fn entries(&self) -> &[(String, super::ParamOverrideValue)] {
        &self.entries
    }

    /// NULL when empty (llama.cpp's default), else the terminated array.
    pub(super) fn as_ptr(&self) -> *const sys::llama_model_kv_override {
        if self.entries.is_empty() {
            std::ptr::null()
        } else {
            self.raw.as_ptr()
        }
    }
}

/// Copies a checked (no NUL, < 128 bytes) string into a fixed C buffer.
fn copy_c_string(dst: &mut [std::os::raw::c_char; 128], src: &str) {
    for (d, s) in dst.iter_mut().zip(src.bytes()) {
        *d = s as std::os::raw::c_char;
    }
}

#[cfg(test)]
mod tests {
    use super::ParamOverrideValue as Upstream;
    use crate::ParamOverrideValue as Own;

    #[test]
    fn strings_convert_within_llama_cpps_buffer() {
        let longest = "x".repeat(127);
        let Ok(Upstream::Str(buf)) = Upstream::try_from(Own::Str(longest.clone())) else {
            panic!("127 bytes fit");
        };
        assert_eq!(buf[127], 0, "NUL-terminated");
        assert_eq!(
            Own::try_from(Upstream::Str(buf)).unwrap(),
            Own::Str(longest)
        );

        assert!(
            Upstream::try_from(Own::Str("x".repeat(128))).is_err(),
            "no room for the NUL"
        );
        assert!(Upstream::try_from(Own::Str("a\0b".into())).is_err());
        assert!(Own::try_from(Upstream::Str([b'x' as std::os::raw::c_char; 128])).is_err());
        let mut not_utf8 = [0; 128];
        not_utf8[0] = 0xff_u8 as std::os::raw::c_char;
        assert!(Own::try_from(Upstream::Str(not_utf8)).is_err());
    }

    #[test]
    fn numbers_and_booleans_convert_both_ways() {
        for (own, upstream) in [
            (Own::Int(-3), Upstream::Int(-3)),
            (Own::Float(0.5), Upstream::Float(0.5)),
            (Own::Bool(true), Upstream::Bool(true)),
        ] {
            assert_eq!(Upstream::try_from(own.clone()).unwrap(), upstream);
            assert_eq!(Own::try_from(upstream).unwrap(), own);
        }
    }
}
