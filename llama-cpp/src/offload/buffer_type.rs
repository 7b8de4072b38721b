//! [`BufferType`]: where an override sends its tensors, and its resolution to
//! one of ggml's buffer types ([`BuftPtr`]), the handle the loader takes.

use crate::devices::{gpu_device_indices, list_llama_ggml_backend_devices, raw_device};
use crate::error::{LlamaError, Result};
use crate::sys;
use std::ffi::CStr;
use std::fmt;
use std::ptr::NonNull;

/// Where a tensor's weights are allocated.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BufferType {
    /// Host memory, `ggml_backend_cpu_buffer_type()`. The loader recognises
    /// this exact pointer and may then pick a CPU repack buffer type.
    Cpu,
    /// Memory of the n-th GPU (0-based, counting GPU devices only), e.g. `CUDA0`.
    Gpu(usize),
    /// Pinned host memory of the n-th GPU (e.g. `CUDA_Host`): host RAM the GPU
    /// reads fast. With mmap loading llama.cpp uses plain host memory instead.
    GpuHost(usize),
    /// A buffer type by ggml's name, as in llama.cpp's `-ot PATTERN=NAME`
    /// (`CPU`, `CUDA0`, `CUDA_Host`, ...).
    Named(String),
}

impl BufferType {
    /// Parses llama.cpp's `-ot` buffer-type names: `CPU` (any case) is
    /// [`BufferType::Cpu`]; anything else is looked up when resolved.
    pub fn from_name(name: &str) -> Self {
        if name.eq_ignore_ascii_case("cpu") {
            Self::Cpu
        } else {
            Self::Named(name.to_owned())
        }
    }

    /// The ggml buffer type, or an error naming what this build has.
    pub(crate) fn resolve(&self) -> Result<BuftPtr> {
        let unknown = |requested: String| LlamaError::UnknownDevice {
            requested,
            available: available_buffer_types().join(", "),
        };
        let gpu = |n: usize| {
            gpu_device_indices()
                .get(n)
                .and_then(|&i| raw_device(i))
                .ok_or_else(|| unknown(format!("GPU {n}")))
        };
        // SAFETY: every device handle comes from ggml's registry, valid for
        // the life of the process; the returned buffer types are statics.
        let raw = unsafe {
            match self {
                Self::Cpu => sys::ggml_backend_cpu_buffer_type(),
                Self::Gpu(n) => sys::ggml_backend_dev_buffer_type(gpu(*n)?),
                Self::GpuHost(n) => {
                    let host = sys::ggml_backend_dev_host_buffer_type(gpu(*n)?);
                    if host.is_null() {
                        return Err(unknown(format!("pinned host memory of GPU {n}")));
                    }
                    host
                }
                Self::Named(name) => all_buffer_types()
                    .into_iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, b)| b.0.as_ptr())
                    .ok_or_else(|| unknown(name.clone()))?,
            }
        };
        NonNull::new(raw)
            .map(BuftPtr)
            .ok_or_else(|| unknown(self.to_string()))
    }
}

impl fmt::Display for BufferType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => f.write_str("CPU"),
            Self::Gpu(n) => write!(f, "GPU{n}"),
            Self::GpuHost(n) => write!(f, "GPU{n}_Host"),
            Self::Named(name) => f.write_str(name),
        }
    }
}

/// A ggml buffer type handle. They are static objects owned by ggml's
/// backend registry, never freed, and only read through const functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BuftPtr(pub(crate) NonNull<sys::ggml_backend_buffer_type>);

// SAFETY: a buffer type is an immutable, process-lifetime registry object;
// ggml's buft queries (name, alignment, device) are thread-safe reads.
unsafe impl Send for BuftPtr {}
// SAFETY: as above, shared references only allow those reads.
unsafe impl Sync for BuftPtr {}

impl BuftPtr {
    pub(crate) fn name(self) -> String {
        // SAFETY: see the type's invariant; the name is a static C string.
        unsafe { CStr::from_ptr(sys::ggml_backend_buft_name(self.0.as_ptr())) }
            .to_string_lossy()
            .into_owned()
    }

    /// Name of the device owning this buffer type (`CPU` for host types).
    pub(crate) fn device_name(self) -> String {
        // SAFETY: see the type's invariant; a null device means host memory.
        unsafe {
            let dev = sys::ggml_backend_buft_get_device(self.0.as_ptr());
            if dev.is_null() || sys::ggml_backend_buft_is_host(self.0.as_ptr()) {
                "CPU".to_owned()
            } else {
                CStr::from_ptr(sys::ggml_backend_dev_name(dev))
                    .to_string_lossy()
                    .into_owned()
            }
        }
    }
}

/// Every buffer type llama.cpp's `-ot` accepts by name, plus pinned host types.
fn all_buffer_types() -> Vec<(String, BuftPtr)> {
    let mut out = Vec::new();
    for device in list_llama_ggml_backend_devices() {
        let Some(dev) = raw_device(device.index) else {
            continue;
        };
        // SAFETY: `dev` is a registry handle; both calls return static
        // buffer types or NULL.
        let (main, host) = unsafe {
            (
                sys::ggml_backend_dev_buffer_type(dev),
                sys::ggml_backend_dev_host_buffer_type(dev),
            )
        };
        for buft in [main, host]
            .into_iter()
            .filter_map(NonNull::new)
            .map(BuftPtr)
        {
            out.push((buft.name(), buft));
        }
    }
    out
}

fn available_buffer_types() -> Vec<String> {
    let gpus = gpu_device_indices().len();
    let mut names: Vec<String> = all_buffer_types()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    names.push(format!("{gpus} GPU(s)"));
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_gpu_is_an_error_listing_what_exists() {
        let err = BufferType::Gpu(99).resolve().unwrap_err();
        let lists_cpu = matches!(&err, LlamaError::UnknownDevice { available, .. }
            if available.contains("CPU"));
        assert!(lists_cpu, "{err}");
        assert!(BufferType::Named("NoSuchBuffer0".into()).resolve().is_err());
        assert_eq!(BufferType::from_name("cpu"), BufferType::Cpu);
        assert_eq!(BufferType::Cpu.resolve().unwrap().name(), "CPU");
    }
}
