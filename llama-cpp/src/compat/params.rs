//! llama-cpp-2's `Pin`-taking builders on [`LlamaModelParams`], made sound.
//!
//! llama-cpp-2 stores the caller's `&CStr` pointer (nothing ties its lifetime to the params)
//! and always writes the first slot, so a second call panics. Here each call copies the
//! string into the params' owned storage and appends, through the same code as
//! [`LlamaModelParams::with_kv_override`] and [`LlamaModelParams::with_tensor_override`];
//! the `Pin` is only for llama-cpp-2's signatures (the params are `Unpin`).
//!
//! Where llama-cpp-2 returns `()` and panics on bad input, these return `Result<()>`: existing
//! calls compile unchanged, with an `unused_must_use` warning where the error is dropped.

use crate::error::{LlamaError, Result};
use crate::model::params::kv_overrides;
use crate::offload::MOE_EXPERTS_PATTERN;
use crate::{BufferType, LlamaModelParams};
use std::ffi::CStr;
use std::pin::Pin;

impl LlamaModelParams {
    /// Appends a GGUF metadata override; `key` and the value are copied.
    ///
    /// ```
    /// use llama_cpp_moe::model::params::{kv_overrides::ParamOverrideValue, LlamaModelParams};
    /// let mut params = std::pin::pin!(LlamaModelParams::default());
    /// let key = std::ffi::CString::new("llama.context_length")?;
    /// params.as_mut().append_kv_override(&key, ParamOverrideValue::Int(512))?;
    /// drop(key);
    /// params.as_mut().append_kv_override(c"general.name", ParamOverrideValue::Bool(true))?;
    /// assert_eq!(params.kv_overrides().len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// The key is not UTF-8 or is 128 bytes or longer, or a string value has no NUL in its
    /// buffer or is not UTF-8.
    pub fn append_kv_override(
        self: Pin<&mut Self>,
        key: &CStr,
        value: kv_overrides::ParamOverrideValue,
    ) -> Result<()> {
        let key = c_str_arg("kv override key", key)?;
        let value = crate::ParamOverrideValue::try_from(value)?;
        let this = Pin::into_inner(self);
        // The builder consumes the params: hand it a clone (shared `Arc`s, cheap) so that an
        // error leaves `this` as it was.
        *this = this.clone().with_kv_override(key, value)?;
        Ok(())
    }

    /// Keeps every MoE expert tensor in host memory (llama.cpp's `--cpu-moe`), with the
    /// expert pattern of llama.cpp b10200, fused `gate_up` experts included.
    ///
    /// # Errors
    /// llama.cpp's limit on the number of tensor overrides is reached.
    pub fn add_cpu_moe_override(self: Pin<&mut Self>) -> Result<()> {
        let this = Pin::into_inner(self);
        *this = this
            .clone()
            .with_tensor_override(MOE_EXPERTS_PATTERN, BufferType::Cpu)?;
        Ok(())
    }

    /// Appends an override keeping tensors whose name matches `key` (a `std::regex`, searched
    /// in the name) in host memory. The pattern is copied and compiled now.
    ///
    /// ```
    /// use llama_cpp_moe::model::params::LlamaModelParams;
    /// let mut params = std::pin::pin!(LlamaModelParams::default());
    /// params.as_mut().add_cpu_buft_override(c"blk\\.0\\.ffn_.*")?;
    /// params.as_mut().add_cpu_buft_override(c"blk\\.1\\.ffn_.*")?; // llama-cpp-2 panics here
    /// assert_eq!(params.tensor_overrides().len(), 2);
    /// assert!(params.as_mut().add_cpu_buft_override(c"(").is_err());
    /// # Ok::<(), llama_cpp_moe::LlamaError>(())
    /// ```
    ///
    /// # Errors
    /// The pattern is not UTF-8 or not a valid regex, or llama.cpp's limit on the number of
    /// tensor overrides is reached.
    pub fn add_cpu_buft_override(self: Pin<&mut Self>, key: &CStr) -> Result<()> {
        let pattern = c_str_arg("tensor override pattern", key)?;
        let this = Pin::into_inner(self);
        *this = this
            .clone()
            .with_tensor_override(pattern, BufferType::Cpu)?;
        Ok(())
    }
}

/// A C string argument as UTF-8.
fn c_str_arg<'a>(name: &'static str, value: &'a CStr) -> Result<&'a str> {
    value.to_str().map_err(|err| LlamaError::InvalidParameter {
        name,
        reason: format!("not UTF-8: {err}"),
    })
}
