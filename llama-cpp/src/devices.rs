//! The ggml backend devices this build can use (CPU, GPUs, ...).

use crate::sys;
use std::ffi::CStr;

/// Kind of a ggml backend device.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LlamaBackendDeviceType {
    /// The host CPU.
    Cpu,
    /// A discrete GPU with its own memory.
    Gpu,
    /// An integrated GPU sharing host memory.
    IntegratedGpu,
    /// An accelerator (e.g. BLAS) that works on host memory.
    Accelerator,
    /// A device type this crate does not know.
    Unknown,
}

/// One ggml backend device and its memory, as reported when queried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlamaBackendDevice {
    /// Index in ggml's device registry (`ggml_backend_dev_get`).
    pub index: usize,
    /// Short name, e.g. `CPU` or `CUDA0`.
    pub name: String,
    /// Human description, e.g. the GPU model.
    pub description: String,
    /// Name of the backend that registered the device, e.g. `CPU` or `CUDA` (llama-cpp-2's field).
    pub backend: String,
    /// Kind of device.
    pub device_type: LlamaBackendDeviceType,
    /// Free memory in bytes at the time of the query.
    pub memory_free: usize,
    /// Total memory in bytes.
    pub memory_total: usize,
}

/// Lists every device ggml registered, in registry order.
///
/// Memory figures are read at the time of the call (for a GPU: the driver's
/// free/total; for the CPU: host memory).
pub fn list_llama_ggml_backend_devices() -> Vec<LlamaBackendDevice> {
    // SAFETY: the registry is a process-wide static; indices below
    // ggml_backend_dev_count() are valid.
    let count = unsafe { sys::ggml_backend_dev_count() };
    (0..count)
        .map(|index| device_at(index).expect("index below count"))
        .collect()
}

/// The device at registry `index`, if there is one.
pub(crate) fn device_at(index: usize) -> Option<LlamaBackendDevice> {
    let dev = raw_device(index)?;
    let (mut free, mut total) = (0usize, 0usize);
    // SAFETY: `dev` is a valid registry entry for the life of the process.
    let reg = unsafe { sys::ggml_backend_dev_backend_reg(dev) };
    let backend = if reg.is_null() {
        String::new()
    } else {
        // SAFETY: a registered backend's name is a NUL-terminated string it owns for the life
        // of the process (or NULL, which gives "").
        unsafe { c_str_or_empty(sys::ggml_backend_reg_name(reg)) }
    };
    // SAFETY: `dev` is a valid registry entry for the life of the process;
    // name/description return NUL-terminated strings owned by the backend.
    unsafe {
        sys::ggml_backend_dev_memory(dev, &mut free, &mut total);
        Some(LlamaBackendDevice {
            index,
            name: CStr::from_ptr(sys::ggml_backend_dev_name(dev))
                .to_string_lossy()
                .into_owned(),
            description: CStr::from_ptr(sys::ggml_backend_dev_description(dev))
                .to_string_lossy()
                .into_owned(),
            backend,
            device_type: match sys::ggml_backend_dev_type(dev) {
                sys::GGML_BACKEND_DEVICE_TYPE_CPU => LlamaBackendDeviceType::Cpu,
                sys::GGML_BACKEND_DEVICE_TYPE_GPU => LlamaBackendDeviceType::Gpu,
                sys::GGML_BACKEND_DEVICE_TYPE_IGPU => LlamaBackendDeviceType::IntegratedGpu,
                sys::GGML_BACKEND_DEVICE_TYPE_ACCEL => LlamaBackendDeviceType::Accelerator,
                _ => LlamaBackendDeviceType::Unknown,
            },
            memory_free: free,
            memory_total: total,
        })
    }
}

/// An owned copy of a C string; empty for NULL.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string valid for the call.
unsafe fn c_str_or_empty(ptr: *const std::os::raw::c_char) -> String {
    if ptr.is_null() {
        String::new()
    } else {
        // SAFETY: non-NULL, and NUL-terminated per this function's contract.
        unsafe { CStr::from_ptr(ptr) }
            .to_string_lossy()
            .into_owned()
    }
}

/// The raw registry handle at `index`, bounds-checked.
pub(crate) fn raw_device(index: usize) -> Option<sys::ggml_backend_dev_t> {
    // SAFETY: count is a plain query; get is only called below it.
    unsafe { (index < sys::ggml_backend_dev_count()).then(|| sys::ggml_backend_dev_get(index)) }
}

/// The GPU devices (discrete and integrated), in registry order:
/// `BufferType::Gpu(n)` is the n-th of these.
pub(crate) fn gpu_devices() -> Vec<LlamaBackendDevice> {
    list_llama_ggml_backend_devices()
        .into_iter()
        .filter(|d| {
            matches!(
                d.device_type,
                LlamaBackendDeviceType::Gpu | LlamaBackendDeviceType::IntegratedGpu
            )
        })
        .collect()
}

/// Registry indices of [`gpu_devices`].
pub(crate) fn gpu_device_indices() -> Vec<usize> {
    gpu_devices().into_iter().map(|d| d.index).collect()
}
