//! [`LlamaModelParams`]: how a model is loaded and where its weights go.
//!
//! The storage the loader reads through the params' pointers lives beside it, one file each:
//! the KV-override array in `kv_overrides.rs`, the progress callback in `progress.rs`; the
//! tensor-override array is [`crate::offload`]'s.

pub mod kv_overrides;
mod progress;

use crate::devices::raw_device;
use crate::error::{to_cstring, LlamaError, Result};
use crate::offload::{
    n_cpu_moe_pattern, BufferType, OverrideArray, TensorOverride, MOE_EXPERTS_PATTERN,
};
use crate::sys;
use kv_overrides::KvOverrideArray;
use progress::{progress_trampoline, SharedProgress};
use std::fmt;
use std::sync::{Arc, Mutex};

pub(crate) use progress::ProgressLoad;

/// How layers are split across several GPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LlamaSplitMode {
    /// Everything on the main GPU.
    None,
    /// Whole layers per GPU (llama.cpp's default).
    Layer,
    /// Rows of each tensor across GPUs.
    Row,
}

/// How the weight file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadMode {
    /// Read the file into allocated buffers. For MoE offload this puts the
    /// experts in the GPU backend's pinned host memory, which measured 6.6x the
    /// prompt speed of mmap on an H200 host.
    Read,
    /// Memory-map the file (llama.cpp's default): fast start, pages loaded lazily.
    Mmap,
    /// Read, and lock the pages in RAM.
    Mlock,
    /// Memory-map and lock.
    MmapMlock,
    /// Direct I/O where the platform supports it.
    DirectIo,
}

impl LoadMode {
    /// The mode for mmap on/off and mlock on/off (direct I/O is neither).
    fn from_flags(mmap: bool, mlock: bool) -> Self {
        match (mmap, mlock) {
            (true, false) => Self::Mmap,
            (true, true) => Self::MmapMlock,
            (false, false) => Self::Read,
            (false, true) => Self::Mlock,
        }
    }

    fn to_raw(self) -> sys::llama_load_mode {
        match self {
            Self::Read => sys::LLAMA_LOAD_MODE_NONE,
            Self::Mmap => sys::LLAMA_LOAD_MODE_MMAP,
            Self::Mlock => sys::LLAMA_LOAD_MODE_MLOCK,
            Self::MmapMlock => sys::LLAMA_LOAD_MODE_MMAP_MLOCK,
            Self::DirectIo => sys::LLAMA_LOAD_MODE_DIRECT_IO,
        }
    }
}

/// A value for [`LlamaModelParams::with_kv_override`].
#[derive(Debug, Clone, PartialEq)]
pub enum ParamOverrideValue {
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A string of at most 127 bytes.
    Str(String),
}

/// The NULL-terminated device list the loader reads through a raw pointer,
/// with the registry indices it was built from. It lives behind an `Arc`: the
/// params, their clones and the loaded models share it, so the pointer stays
/// valid whatever the caller does with the params.
struct DeviceArray {
    indices: Vec<usize>,
    raw: Vec<sys::ggml_backend_dev_t>,
}

// SAFETY: device handles are process-lifetime registry objects; the array is
// immutable after construction.
unsafe impl Send for DeviceArray {}
// SAFETY: as above.
unsafe impl Sync for DeviceArray {}

/// Parameters for [`crate::LlamaModel::load_from_file`].
///
/// Builders take and return `self`, so they chain; fallible ones return
/// `Result<Self>`. The tensor overrides, KV overrides and device list are
/// owned here (not borrowed from the caller) and shared with every model
/// loaded from these params, so clones and moves are always safe.
///
/// ```
/// use llama_cpp_moe::{BufferType, LlamaModelParams};
/// let params = LlamaModelParams::default()
///     .with_n_gpu_layers(99)
///     .with_cpu_moe_all()
///     .with_tensor_override(r"blk\.0\.attn_.*", BufferType::Cpu)?;
/// assert_eq!(params.tensor_overrides().len(), 2);
/// # Ok::<(), llama_cpp_moe::LlamaError>(())
/// ```
#[derive(Clone)]
pub struct LlamaModelParams {
    raw: sys::llama_model_params,
    overrides: Arc<OverrideArray>,
    kv_overrides: Arc<KvOverrideArray>,
    devices: Option<Arc<DeviceArray>>,
    progress: Option<SharedProgress>,
}

// SAFETY: the raw struct's pointer fields are all NULL here (they are filled
// from the Arc-owned arrays only in `as_raw`, for the duration of a load);
// the arrays themselves are Send + Sync, and the progress callback is Send
// behind a Mutex.
unsafe impl Send for LlamaModelParams {}
// SAFETY: as above; `&self` methods only read.
unsafe impl Sync for LlamaModelParams {}

impl Default for LlamaModelParams {
    fn default() -> Self {
        // SAFETY: returns a plain struct by value.
        let raw = unsafe { sys::llama_model_default_params() };
        Self {
            raw,
            overrides: Arc::default(),
            kv_overrides: Arc::default(),
            devices: None,
            progress: None,
        }
    }
}

impl LlamaModelParams {
    /// Layers to store in VRAM; negative means all (llama.cpp's default).
    pub fn with_n_gpu_layers(mut self, n_gpu_layers: u32) -> Self {
        self.raw.n_gpu_layers = i32::try_from(n_gpu_layers).unwrap_or(i32::MAX);
        self
    }

    /// The GPU used for everything when the split mode is `None`.
    pub fn with_main_gpu(mut self, main_gpu: i32) -> Self {
        self.raw.main_gpu = main_gpu;
        self
    }

    /// How to split the model across GPUs.
    pub fn with_split_mode(mut self, mode: LlamaSplitMode) -> Self {
        self.raw.split_mode = match mode {
            LlamaSplitMode::None => sys::LLAMA_SPLIT_MODE_NONE,
            LlamaSplitMode::Layer => sys::LLAMA_SPLIT_MODE_LAYER,
            LlamaSplitMode::Row => sys::LLAMA_SPLIT_MODE_ROW,
        };
        self
    }

    /// Restricts offloading to these devices (registry indices from
    /// [`crate::list_llama_ggml_backend_devices`]).
    pub fn with_devices(mut self, indices: &[usize]) -> Result<Self> {
        let mut raw = Vec::with_capacity(indices.len() + 1);
        for &index in indices {
            raw.push(raw_device(index).ok_or_else(|| LlamaError::UnknownDevice {
                requested: format!("device index {index}"),
                available: format!("{} devices", crate::list_llama_ggml_backend_devices().len()),
            })?);
        }
        raw.push(std::ptr::null_mut());
        self.devices = Some(Arc::new(DeviceArray {
            indices: indices.to_vec(),
            raw,
        }));
        Ok(self)
    }

    /// How the file is read (mmap by default).
    pub fn with_load_mode(mut self, mode: LoadMode) -> Self {
        self.raw.load_mode = mode.to_raw();
        self
    }

    /// Shorthand for mmap on/off, keeping mlock as set.
    pub fn with_use_mmap(self, use_mmap: bool) -> Self {
        let mode = LoadMode::from_flags(use_mmap, self.uses_mlock());
        self.with_load_mode(mode)
    }

    /// Locks the weights in RAM, keeping mmap as set.
    pub fn with_use_mlock(self, use_mlock: bool) -> Self {
        let mode = LoadMode::from_flags(self.uses_mmap(), use_mlock);
        self.with_load_mode(mode)
    }

    /// Only load the vocabulary (no weights).
    pub fn with_vocab_only(mut self, vocab_only: bool) -> Self {
        self.raw.vocab_only = vocab_only;
        self
    }

    /// Only read metadata and simulate allocations: the model's memory
    /// breakdown is then the exact size every buffer would have.
    pub fn with_no_alloc(mut self, no_alloc: bool) -> Self {
        self.raw.no_alloc = no_alloc;
        self
    }

    /// Let the CPU backend repack weights into faster layouts (default on).
    pub fn with_extra_buffer_types(mut self, enabled: bool) -> Self {
        self.raw.use_extra_bufts = enabled;
        self
    }

    /// Keep host-side weights in a GPU's pinned host buffer type (default on;
    /// only matters when a GPU backend is present). Pinned memory speeds up
    /// the copies a GPU makes of host weights for large batches, but it takes
    /// precedence over the CPU's repacked layouts: with it off, weights in host
    /// memory use [`with_extra_buffer_types`](Self::with_extra_buffer_types)
    /// as on a machine without a GPU.
    pub fn with_host_buffers(mut self, enabled: bool) -> Self {
        self.raw.no_host = !enabled;
        self
    }

    /// Called with the load progress in `0.0..=1.0`; return `false` to
    /// cancel the load. A panic inside the callback cancels that load and
    /// is re-raised in its caller after llama.cpp has returned; later loads
    /// with these params or their clones call the callback as before.
    pub fn with_progress_callback(
        mut self,
        callback: impl FnMut(f32) -> bool + Send + 'static,
    ) -> Self {
        self.progress = Some(Arc::new(Mutex::new(Box::new(callback))));
        self
    }

    /// Overrides a GGUF metadata value at load time.
    pub fn with_kv_override(mut self, key: &str, value: ParamOverrideValue) -> Result<Self> {
        let too_long = |what: &'static str| LlamaError::InvalidParameter {
            name: what,
            reason: "must be shorter than 128 bytes".into(),
        };
        to_cstring("kv override key", key)?;
        if key.len() >= 128 {
            return Err(too_long("kv override key"));
        }
        if let ParamOverrideValue::Str(s) = &value {
            to_cstring("kv override value", s)?;
            if s.len() >= 128 {
                return Err(too_long("kv override value"));
            }
        }
        let mut entries = self.kv_overrides.entries().to_vec();
        entries.push((key.to_owned(), value));
        self.kv_overrides = Arc::new(KvOverrideArray::new(entries));
        Ok(self)
    }

    /// Puts tensors whose name matches `pattern` into `buffer_type`.
    ///
    /// The pattern is a C++ `std::regex` (ECMAScript) searched anywhere in
    /// the name, exactly like llama.cpp's `-ot`; it is compiled here, so a
    /// bad pattern is an error now rather than a failed load. Order matters:
    /// the loader takes the first matching override.
    pub fn with_tensor_override(mut self, pattern: &str, buffer_type: BufferType) -> Result<Self> {
        let max = Self::max_tensor_overrides();
        let count = self.overrides.overrides().len() + 1;
        if count > max {
            return Err(LlamaError::TooManyOverrides { count, max });
        }
        let added = TensorOverride::new(pattern, buffer_type)?;
        let mut list = self.overrides.overrides().to_vec();
        list.push(added);
        self.overrides = Arc::new(OverrideArray::new(list));
        Ok(self)
    }

    /// Keeps every MoE expert tensor in host memory, like llama.cpp's
    /// `--cpu-moe` (pattern [`MOE_EXPERTS_PATTERN`]).
    pub fn with_cpu_moe_all(self) -> Self {
        self.with_tensor_override(MOE_EXPERTS_PATTERN, BufferType::Cpu)
            .expect("the built-in pattern compiles and the CPU always exists")
    }

    /// Keeps the expert tensors of layers `0..n` in host memory, like
    /// llama.cpp's `--n-cpu-moe n`, with one pattern instead of `n`.
    /// `n = 0` adds nothing; `n` past the last layer means every layer.
    pub fn with_n_cpu_moe(self, n: usize) -> Self {
        match n_cpu_moe_pattern(n) {
            None => self,
            Some(pattern) => self
                .with_tensor_override(&pattern, BufferType::Cpu)
                .expect("the generated pattern compiles and the CPU always exists"),
        }
    }

    /// The overrides in the order llama.cpp will try them.
    pub fn tensor_overrides(&self) -> &[TensorOverride] {
        self.overrides.overrides()
    }

    /// The KV overrides added so far.
    pub fn kv_overrides(&self) -> &[(String, ParamOverrideValue)] {
        self.kv_overrides.entries()
    }

    /// Layers to offload (negative: all).
    pub fn n_gpu_layers(&self) -> i32 {
        self.raw.n_gpu_layers
    }

    /// The main GPU index.
    pub fn main_gpu(&self) -> i32 {
        self.raw.main_gpu
    }

    pub(crate) fn main_gpu_index(&self) -> usize {
        usize::try_from(self.raw.main_gpu).unwrap_or(0)
    }

    /// The device restriction, if any (registry indices).
    pub fn devices(&self) -> Option<&[usize]> {
        self.devices.as_deref().map(|d| d.indices.as_slice())
    }

    /// Whether the file will be memory-mapped.
    pub fn uses_mmap(&self) -> bool {
        matches!(
            self.raw.load_mode,
            sys::LLAMA_LOAD_MODE_MMAP | sys::LLAMA_LOAD_MODE_MMAP_MLOCK
        )
    }

    /// Whether the weights will be locked in RAM.
    pub fn uses_mlock(&self) -> bool {
        matches!(
            self.raw.load_mode,
            sys::LLAMA_LOAD_MODE_MLOCK | sys::LLAMA_LOAD_MODE_MMAP_MLOCK
        )
    }

    /// Whether only the vocabulary is loaded.
    pub fn vocab_only(&self) -> bool {
        self.raw.vocab_only
    }

    /// llama.cpp's limit on the number of tensor overrides.
    pub fn max_tensor_overrides() -> usize {
        // SAFETY: a constant query.
        unsafe { sys::llama_max_tensor_buft_overrides() }
    }

    /// The C struct with every pointer aimed at storage owned by `self`, and
    /// the progress callback aimed at `progress` (from
    /// [`progress_load`](Self::progress_load)). Valid while `self` (or a
    /// clone of its `Arc`s) and `progress` live.
    pub(crate) fn as_raw(&self, progress: Option<&ProgressLoad>) -> sys::llama_model_params {
        let mut raw = self.raw;
        raw.tensor_buft_overrides = self.overrides.as_ptr();
        raw.kv_overrides = self.kv_overrides.as_ptr();
        raw.devices = self
            .devices
            .as_ref()
            .map_or(std::ptr::null_mut(), |d| d.raw.as_ptr().cast_mut());
        if let Some(progress) = progress {
            raw.progress_callback = Some(progress_trampoline);
            raw.progress_callback_user_data = std::ptr::from_ref(progress).cast_mut().cast();
        }
        raw
    }

    /// The state of one load's progress callback, if there is a callback.
    pub(crate) fn progress_load(&self) -> Option<Box<ProgressLoad>> {
        let callback = Arc::clone(self.progress.as_ref()?);
        Some(Box::new(ProgressLoad::new(callback)))
    }

    /// Everything a loaded model must keep alive (llama.cpp copies the params
    /// struct, pointers included, into the model).
    pub(crate) fn keep_alive(&self, progress: Option<Box<ProgressLoad>>) -> ParamsStorage {
        ParamsStorage {
            _overrides: Arc::clone(&self.overrides),
            _kv_overrides: Arc::clone(&self.kv_overrides),
            _devices: self.devices.clone(),
            _progress: progress,
        }
    }
}

/// Storage a [`crate::LlamaModel`] holds for its whole life.
pub(crate) struct ParamsStorage {
    _overrides: Arc<OverrideArray>,
    _kv_overrides: Arc<KvOverrideArray>,
    _devices: Option<Arc<DeviceArray>>,
    _progress: Option<Box<ProgressLoad>>,
}

impl fmt::Debug for LlamaModelParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlamaModelParams")
            .field("n_gpu_layers", &self.raw.n_gpu_layers)
            .field("main_gpu", &self.raw.main_gpu)
            .field("split_mode", &self.raw.split_mode)
            .field("load_mode", &self.raw.load_mode)
            .field("vocab_only", &self.raw.vocab_only)
            .field("no_alloc", &self.raw.no_alloc)
            .field("tensor_overrides", &self.tensor_overrides())
            .field("kv_overrides", &self.kv_overrides())
            .field("devices", &self.devices())
            .field("progress_callback", &self.progress.is_some())
            .finish()
    }
}
