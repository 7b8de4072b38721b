//! Tensor buffer-type overrides: where llama.cpp puts each weight.
//!
//! An override is a regular expression over tensor names and a buffer type.
//! llama.cpp's loader tries the overrides in order and takes the first whose
//! pattern is found in the tensor name (`std::regex_search`, ECMAScript).
//! MoE offload keeps the expert tensors (`ffn_*_exps`) in host memory so a
//! model much larger than VRAM runs with everything else on the GPU.
//!
//! Patterns are compiled here with the same `std::regex` as the loader (a C++
//! shim), so a bad pattern fails when it is added, never during a load.

use crate::devices::{gpu_device_indices, list_llama_ggml_backend_devices, raw_device};
use crate::error::{to_cstring, LlamaError, Result};
use crate::gguf::{GgmlType, GgufFile};
use crate::sys;
use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::fmt;
use std::path::Path;
use std::ptr::NonNull;

/// llama.cpp's `--cpu-moe` pattern (`LLM_FFN_EXPS_REGEX` in common/common.h):
/// every expert tensor, fused `gate_up` and `chexps` included.
pub const MOE_EXPERTS_PATTERN: &str = r"\.ffn_(up|down|gate|gate_up)_(ch|)exps";

/// llama.cpp's upper bound on layers (`LLAMA_MAX_LAYERS`); no model has more.
pub const LLAMA_MAX_LAYERS: usize = 512;

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
        let unknown = |requested: String| LlamaError::UnknownDevice { requested, available: available_buffer_types().join(", ") };
        let gpu = |n: usize| gpu_device_indices().get(n).and_then(|&i| raw_device(i)).ok_or_else(|| unknown(format!("GPU {n}")));
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
                Self::Named(name) => {
                    all_buffer_types().into_iter().find(|(n, _)| n == name).map(|(_, b)| b.0.as_ptr()).ok_or_else(|| unknown(name.clone()))?
                }
            }
        };
        NonNull::new(raw).map(BuftPtr).ok_or_else(|| unknown(self.to_string()))
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
        unsafe { CStr::from_ptr(sys::ggml_backend_buft_name(self.0.as_ptr())) }.to_string_lossy().into_owned()
    }

    /// Name of the device owning this buffer type (`CPU` for host types).
    pub(crate) fn device_name(self) -> String {
        // SAFETY: see the type's invariant; a null device means host memory.
        unsafe {
            let dev = sys::ggml_backend_buft_get_device(self.0.as_ptr());
            if dev.is_null() || sys::ggml_backend_buft_is_host(self.0.as_ptr()) {
                "CPU".to_owned()
            } else {
                CStr::from_ptr(sys::ggml_backend_dev_name(dev)).to_string_lossy().into_owned()
            }
        }
    }
}

/// Every buffer type llama.cpp's `-ot` accepts by name, plus pinned host types.
fn all_buffer_types() -> Vec<(String, BuftPtr)> {
    let mut out = Vec::new();
    for device in list_llama_ggml_backend_devices() {
        let Some(dev) = raw_device(device.index) else { continue };
        // SAFETY: `dev` is a registry handle; both calls return static
        // buffer types or NULL.
        let (main, host) = unsafe { (sys::ggml_backend_dev_buffer_type(dev), sys::ggml_backend_dev_host_buffer_type(dev)) };
        for buft in [main, host].into_iter().filter_map(NonNull::new).map(BuftPtr) {
            out.push((buft.name(), buft));
        }
    }
    out
}

fn available_buffer_types() -> Vec<String> {
    let gpus = gpu_device_indices().len();
    let mut names: Vec<String> = all_buffer_types().into_iter().map(|(name, _)| name).collect();
    names.push(format!("{gpus} GPU(s)"));
    names
}

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
        let raw = unsafe { sys::llama_rs_regex_new(c_pattern.as_ptr(), error.as_mut_ptr(), error.len()) };
        match NonNull::new(raw) {
            Some(raw) => Ok(Self { raw, pattern: pattern.to_owned() }),
            None => {
                // SAFETY: the shim NUL-terminates `error` within its length.
                let reason = unsafe { CStr::from_ptr(error.as_ptr()) }.to_string_lossy().into_owned();
                Err(LlamaError::InvalidPattern { pattern: pattern.to_owned(), reason })
            }
        }
    }

    /// Whether the pattern is found anywhere in `name`. A name with a NUL
    /// cannot be a tensor name and never matches.
    pub fn is_match(&self, name: &str) -> bool {
        let Ok(c_name) = CString::new(name) else { return false };
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

/// The `--n-cpu-moe n` pattern: expert tensors of layers `0..n`, as one
/// alternation (llama.cpp's CLI adds n patterns, and its loader compiles one
/// `std::regex` per tensor per pattern). `None` for `n == 0`. Counts of
/// [`LLAMA_MAX_LAYERS`] or more select every layer.
pub fn n_cpu_moe_pattern(n: usize) -> Option<String> {
    match n {
        0 => None,
        n if n >= LLAMA_MAX_LAYERS => Some(format!(r"blk\.\d+{MOE_EXPERTS_PATTERN}")),
        n => Some(format!(r"blk\.({}){MOE_EXPERTS_PATTERN}", layer_range_alternation(n))),
    }
}

/// A regex alternation matching exactly the decimal numbers `0..n` (no
/// leading zeros), grouped by decades: `0..48` gives `[0-9]|[1-3][0-9]|4[0-7]`.
fn layer_range_alternation(n: usize) -> String {
    let mut parts = Vec::new();
    let full_decades = n / 10; // decades 0..full_decades are complete
    if full_decades == 0 {
        parts.push(digit_class(0, n - 1));
    } else {
        parts.push("[0-9]".to_owned());
        // Complete decades 1.. grouped per hundred: "[1-9][0-9]", "1[0-9][0-9]", ...
        let mut decade = 1;
        while decade < full_decades {
            let hundred = decade / 10;
            let last_in_hundred = ((hundred + 1) * 10 - 1).min(full_decades - 1);
            let prefix = if hundred == 0 { String::new() } else { hundred.to_string() };
            parts.push(format!("{prefix}{}[0-9]", digit_class(decade % 10, last_in_hundred % 10)));
            decade = last_in_hundred + 1;
        }
        if n % 10 != 0 {
            parts.push(format!("{}{}", full_decades, digit_class(0, n % 10 - 1)));
        }
    }
    parts.join("|")
}

fn digit_class(first: usize, last: usize) -> String {
    if first == last {
        first.to_string()
    } else {
        format!("[{first}-{last}]")
    }
}

/// One override: a pattern and the buffer type its tensors go to.
#[derive(Clone, PartialEq, Eq)]
pub struct TensorOverride {
    pattern: String,
    buffer_type: BufferType,
    buft: BuftPtr,
}

impl TensorOverride {
    /// Validates the pattern and resolves the buffer type.
    pub fn new(pattern: &str, buffer_type: BufferType) -> Result<Self> {
        TensorRegex::new(pattern)?;
        let buft = buffer_type.resolve()?;
        Ok(Self { pattern: pattern.to_owned(), buffer_type, buft })
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
        let patterns: Vec<CString> =
            overrides.iter().map(|o| CString::new(o.pattern.as_str()).expect("validated in TensorOverride::new")).collect();
        let mut raw: Vec<_> = overrides
            .iter()
            .zip(&patterns)
            .map(|(o, p)| sys::llama_model_tensor_buft_override { pattern: p.as_ptr(), buft: o.buft.0.as_ptr() })
            .collect();
        raw.push(sys::llama_model_tensor_buft_override { pattern: std::ptr::null(), buft: std::ptr::null_mut() });
        Self { overrides, _patterns: patterns, raw }
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

/// Layer index of a tensor named `blk.N.*`.
pub fn tensor_layer(name: &str) -> Option<u32> {
    split_layer_tensor(name).map(|(layer, _)| layer)
}

/// A tensor named `blk.N.REST` split into `(N, REST)` (`REST` is empty for a
/// bare `blk.N`): the one parser of llama.cpp's per-layer tensor names.
pub fn split_layer_tensor(name: &str) -> Option<(u32, &str)> {
    let rest = name.strip_prefix("blk.")?;
    let (digits, rest) = rest.split_once('.').unwrap_or((rest, ""));
    Some((digits.parse().ok()?, rest))
}

/// One tensor of an [`OffloadPlan`].
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedTensor {
    /// GGUF tensor name.
    pub name: String,
    /// Layer for `blk.N.*` tensors.
    pub layer: Option<u32>,
    /// Element type.
    pub ggml_type: GgmlType,
    /// Size of the weights in bytes.
    pub n_bytes: u64,
    /// Index of the first override whose pattern matches, if any.
    pub matched_override: Option<usize>,
    /// Predicted buffer type name (`CPU`, `CUDA0`, ...).
    pub buffer_type: String,
    /// Predicted device name (`CPU` for host memory).
    pub device: String,
}

/// Where each weight will go, computed from the GGUF header and the params
/// alone: no weights are read and nothing is allocated.
///
/// Overridden tensors follow the first matching override (exactly as the
/// loader does). The rest follow llama.cpp's layer split: input tensors on
/// the CPU, layers `i >= n_layer + 1 - n_gpu_layers` and the output on the
/// GPU. The prediction is exact for one GPU or none; with several GPUs the
/// layer split is attributed to the main GPU.
#[derive(Debug, Clone, PartialEq)]
pub struct OffloadPlan {
    /// Every tensor in file order.
    pub tensors: Vec<PlannedTensor>,
    /// The overrides considered, in order: `pattern=buffer type`.
    pub overrides: Vec<String>,
}

impl OffloadPlan {
    /// Reads the GGUF header at `path` and plans it.
    pub fn from_file(path: impl AsRef<Path>, params: &crate::LlamaModelParams) -> Result<Self> {
        Self::from_gguf(&GgufFile::open(path)?, params)
    }

    /// Plans an already parsed GGUF header.
    pub fn from_gguf(file: &GgufFile, params: &crate::LlamaModelParams) -> Result<Self> {
        let overrides = params.tensor_overrides();
        let regexes = overrides.iter().map(|o| TensorRegex::new(o.pattern())).collect::<Result<Vec<_>>>()?;
        let default_gpu = default_gpu_buft(params);
        // llama.cpp reads block_count as a u32 and refuses other values; a
        // hostile header saturates here, so `n_layer + 1 - n_gpu_layers`
        // (at most 2^32 + 2^31) cannot overflow an i64.
        let n_layer = file.arch_value("block_count").and_then(|v| v.as_u64()).unwrap_or(0);
        let n_layer = i64::from(u32::try_from(n_layer).unwrap_or(u32::MAX));
        let n_gpu_layers = i64::from(params.n_gpu_layers());
        let n_gpu_layers = if n_gpu_layers < 0 { n_layer + 1 } else { n_gpu_layers };
        let i_gpu_start = (n_layer + 1 - n_gpu_layers).max(0);
        let cpu = BufferType::Cpu.resolve()?;

        // The loader's choice for one tensor name: first matching override,
        // else the layer split (input on the CPU, layers from i_gpu_start and
        // the output on the GPU).
        let place = |name: &str, layer: Option<u32>, as_output: bool| -> (Option<usize>, BuftPtr) {
            let matched = regexes.iter().position(|re| re.is_match(name));
            let buft = match (matched, default_gpu) {
                (Some(i), _) => overrides[i].buft,
                (None, None) => cpu,
                (None, Some(gpu)) => {
                    let on_gpu = match layer {
                        Some(il) => i64::from(il) >= i_gpu_start,
                        None if is_input_tensor(name) && !as_output => false,
                        None => n_layer >= i_gpu_start,
                    };
                    if on_gpu {
                        gpu
                    } else {
                        cpu
                    }
                }
            };
            (matched, buft)
        };
        let planned = |name: String, layer, ggml_type, n_bytes, (matched_override, buft): (Option<usize>, BuftPtr)| PlannedTensor {
            name,
            layer,
            ggml_type,
            n_bytes,
            matched_override,
            buffer_type: buft.name(),
            device: buft.device_name(),
        };
        let mut tensors: Vec<PlannedTensor> = file
            .tensors
            .iter()
            .map(|t| {
                let layer = tensor_layer(&t.name);
                planned(t.name.clone(), layer, t.ggml_type, t.n_bytes(), place(&t.name, layer, false))
            })
            .collect();
        // Tied embeddings: without output.weight the loader uses token_embd
        // as the output too, and allocates a second copy when the output
        // layer's buffer type differs (e.g. token_embd in host memory, output
        // on the GPU).
        if file.tensor("output.weight").is_none() {
            if let Some(embd) = file.tensor("token_embd.weight") {
                let input = place(&embd.name, None, false).1;
                let output = place(&embd.name, None, true);
                if output.1 != input {
                    tensors.push(planned(format!("{} (tied output copy)", embd.name), None, embd.ggml_type, embd.n_bytes(), output));
                }
            }
        }
        Ok(Self { tensors, overrides: overrides.iter().map(|o| format!("{o:?}")).collect() })
    }

    /// Bytes of weights per predicted buffer type.
    pub fn bytes_by_buffer_type(&self) -> BTreeMap<String, u64> {
        sum_by(&self.tensors, |t| t.buffer_type.clone())
    }

    /// Bytes of weights per predicted device (`CPU`, `CUDA0`, ...).
    pub fn bytes_by_device(&self) -> BTreeMap<String, u64> {
        sum_by(&self.tensors, |t| t.device.clone())
    }

    /// Total bytes of the tensors that match any override.
    pub fn overridden_bytes(&self) -> u64 {
        // Saturating: tensors of a header read without its data may overlap
        // and add up past u64::MAX.
        self.tensors
            .iter()
            .filter(|t| t.matched_override.is_some())
            .fold(0u64, |sum, t| sum.saturating_add(t.n_bytes))
    }
}

fn sum_by(tensors: &[PlannedTensor], key: impl Fn(&PlannedTensor) -> String) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for tensor in tensors {
        let sum = out.entry(key(tensor)).or_insert(0u64);
        *sum = sum.saturating_add(tensor.n_bytes);
    }
    out
}

/// Tensors of llama.cpp's input layer, which always stays on the CPU.
pub(crate) fn is_input_tensor(name: &str) -> bool {
    ["token_embd.", "token_types.", "position_embd.", "token_embd_norm."].iter().any(|p| name.starts_with(p))
}

/// The GPU buffer type the layer split would use, if the params allow one.
fn default_gpu_buft(params: &crate::LlamaModelParams) -> Option<BuftPtr> {
    if params.n_gpu_layers() == 0 {
        return None;
    }
    let gpus = gpu_device_indices();
    let chosen = match params.devices() {
        Some(selected) => selected.iter().copied().find(|i| gpus.contains(i)),
        None => gpus.get(params.main_gpu_index()).or(gpus.first()).copied(),
    }?;
    // SAFETY: `chosen` is a registry index from gpu_device_indices().
    let buft = unsafe { sys::ggml_backend_dev_buffer_type(raw_device(chosen)?) };
    NonNull::new(buft).map(BuftPtr)
}

impl fmt::Display for OffloadPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "overrides: {}", if self.overrides.is_empty() { "none".to_owned() } else { self.overrides.join(", ") })?;
        for (buft, bytes) in self.bytes_by_buffer_type() {
            let n = self.tensors.iter().filter(|t| t.buffer_type == buft).count();
            writeln!(f, "  {buft:<12} {:>10.2} MiB in {n} tensors", bytes as f64 / (1024.0 * 1024.0))?;
        }
        Ok(())
    }
}

/// Bytes llama.cpp allocated in one buffer type, from its own accounting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BufferMemory {
    /// ggml's buffer type name (`CPU`, `CPU_Mapped`, `CPU_REPACK`, `CUDA0`, `CUDA_Host`, ...).
    pub buffer_type: String,
    /// Device owning the memory (`CPU` for host memory).
    pub device: String,
    /// Model weights.
    pub model: u64,
    /// Context state (KV cache); zero for a model-only breakdown.
    pub context: u64,
    /// Compute buffers; zero for a model-only breakdown.
    pub compute: u64,
}

impl BufferMemory {
    /// Sum of the three parts.
    pub fn total(&self) -> u64 {
        self.model + self.context + self.compute
    }
}

/// Calls a shim breakdown function twice (count, then fill).
pub(crate) fn read_breakdown(fill: impl Fn(*mut sys::llama_rs_buft_memory, usize) -> i64) -> Result<Vec<BufferMemory>> {
    let failed = || LlamaError::InvalidParameter { name: "memory breakdown", reason: "llama.cpp reported an error".into() };
    let count = usize::try_from(fill(std::ptr::null_mut(), 0)).map_err(|_| failed())?;
    let mut raw = vec![
        sys::llama_rs_buft_memory { buft: std::ptr::null_mut(), model: 0, context: 0, compute: 0 };
        count
    ];
    let written = usize::try_from(fill(raw.as_mut_ptr(), raw.len())).map_err(|_| failed())?;
    raw.truncate(written.min(count));
    Ok(raw
        .into_iter()
        .filter_map(|entry| {
            let buft = BuftPtr(NonNull::new(entry.buft)?);
            Some(BufferMemory {
                buffer_type: buft.name(),
                device: buft.device_name(),
                model: entry.model as u64,
                context: entry.context as u64,
                compute: entry.compute as u64,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_alternation_matches_exactly_the_range() {
        for n in 1..=LLAMA_MAX_LAYERS - 1 {
            let re = TensorRegex::new(&format!("^({})$", layer_range_alternation(n))).unwrap();
            for i in 0..(n + 25) {
                assert_eq!(re.is_match(&i.to_string()), i < n, "n={n} i={i} re={}", re.as_str());
            }
            assert!(!re.is_match("01"), "no leading zeros, n={n}");
        }
    }

    #[test]
    fn small_patterns_are_compact() {
        assert_eq!(layer_range_alternation(1), "0");
        assert_eq!(layer_range_alternation(10), "[0-9]");
        assert_eq!(layer_range_alternation(48), "[0-9]|[1-3][0-9]|4[0-7]");
        assert_eq!(layer_range_alternation(130), "[0-9]|[1-9][0-9]|1[0-2][0-9]");
        assert_eq!(n_cpu_moe_pattern(0), None);
    }

    /// A small GGUF: llama architecture, `block_count` as given, a few
    /// tensors of every kind the plan treats differently.
    fn header_bytes(block_count: crate::gguf::GgufValue) -> Vec<u8> {
        use crate::gguf::{GgufValue, GgufWriter};
        let mut writer = GgufWriter::new();
        writer.set("general.architecture", GgufValue::String("llama".into()));
        writer.set("llama.block_count", block_count);
        let input_layers_output = ["token_embd.weight", "blk.0.attn_q.weight"]
            .into_iter()
            .chain(["blk.1.ffn_up_exps.weight", "output_norm.weight"]);
        for name in input_layers_output {
            writer.add_tensor(name, &[32, 4], GgmlType::F32).unwrap();
        }
        let mut bytes = Vec::new();
        let zeros = |_, info: &crate::gguf::GgufTensorInfo, out: &mut dyn std::io::Write| {
            out.write_all(&vec![0u8; info.n_bytes() as usize])
        };
        writer.write(&mut bytes, zeros).unwrap();
        bytes
    }

    fn param_sets() -> Vec<crate::LlamaModelParams> {
        let p = crate::LlamaModelParams::default;
        vec![
            p(),
            p().with_n_gpu_layers(999),
            p().with_n_gpu_layers(u32::MAX),
            p().with_cpu_moe_all().with_n_gpu_layers(0),
        ]
    }

    #[test]
    fn a_hostile_block_count_plans_without_overflow() {
        use crate::gguf::GgufValue;
        for block_count in [
            GgufValue::U64(i64::MAX as u64),
            GgufValue::U64(1 << 63),
            GgufValue::U64(u64::MAX),
            GgufValue::I64(i64::MAX),
            GgufValue::U32(u32::MAX),
            GgufValue::I64(-1),
        ] {
            let file = GgufFile::from_bytes(&header_bytes(block_count.clone())).unwrap();
            for params in param_sets() {
                let plan = OffloadPlan::from_gguf(&file, &params).unwrap();
                assert_eq!(plan.tensors.len(), 4, "{block_count:?}");
                let total: u64 = plan.bytes_by_buffer_type().values().sum();
                assert_eq!(total, 4 * 32 * 4 * 4);
            }
        }
    }

    /// What the fuzz target does, over mutated headers, so that a debug
    /// build (overflow checks on) runs it in every `cargo test`. The fuzzer
    /// itself: `cd fuzz && cargo fuzz run --dev gguf_plan` (README).
    #[test]
    fn mutated_headers_plan_without_panicking() {
        use crate::gguf::GgufValue;
        let seeds = [header_bytes(GgufValue::U32(2)), header_bytes(GgufValue::U64(u64::MAX))];
        let params = param_sets();
        // SplitMix64: deterministic, no dependency.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let (mut parsed, mut planned) = (0, 0);
        for round in 0..4000 {
            let mut bytes = seeds[round % seeds.len()].clone();
            for _ in 0..1 + next() % 4 {
                if bytes.is_empty() {
                    break;
                }
                let at = (next() % bytes.len() as u64) as usize;
                match next() % 3 {
                    0 => bytes[at] = next() as u8,
                    // An extreme 8-byte value where a count or size may be.
                    1 => {
                        let extremes = [0u64, 1, u64::MAX, 1 << 63, i64::MAX as u64];
                        let value = extremes[(next() % 5) as usize];
                        let end = (at + 8).min(bytes.len());
                        bytes[at..end].copy_from_slice(&value.to_le_bytes()[..end - at]);
                    }
                    _ => bytes.truncate(at),
                }
            }
            if let Ok(file) = GgufFile::from_bytes(&bytes) {
                parsed += 1;
                for params in &params {
                    if let Ok(plan) = OffloadPlan::from_gguf(&file, params) {
                        planned += 1;
                        let by_type = plan.bytes_by_buffer_type();
                        let total = by_type.values().fold(0u64, |a, &b| a.saturating_add(b));
                        let direct =
                            plan.tensors.iter().fold(0u64, |a, t| a.saturating_add(t.n_bytes));
                        assert_eq!(total, direct);
                        let _ = plan.to_string();
                    }
                }
            }
        }
        // The mutations must leave enough headers readable to test the plan.
        assert!(parsed > 400 && planned > 1600, "parsed {parsed}, planned {planned}");
    }

    #[test]
    fn invalid_and_nul_patterns_are_errors() {
        assert!(matches!(TensorRegex::new("ffn_(up"), Err(LlamaError::InvalidPattern { .. })));
        assert!(matches!(TensorRegex::new("a\0b"), Err(LlamaError::InteriorNul { position: 1, .. })));
        assert!(matches!(TensorOverride::new("[", BufferType::Cpu), Err(LlamaError::InvalidPattern { .. })));
    }

    #[test]
    fn layer_of_tensor_names() {
        assert_eq!(tensor_layer("blk.17.ffn_up_exps.weight"), Some(17));
        assert_eq!(tensor_layer("output.weight"), None);
        assert_eq!(tensor_layer("blk.x.attn_q.weight"), None);
    }

    #[test]
    fn unknown_gpu_is_an_error_listing_what_exists() {
        let err = BufferType::Gpu(99).resolve().unwrap_err();
        assert!(matches!(&err, LlamaError::UnknownDevice { available, .. } if available.contains("CPU")), "{err}");
        assert!(BufferType::Named("NoSuchBuffer0".into()).resolve().is_err());
        assert_eq!(BufferType::from_name("cpu"), BufferType::Cpu);
        assert_eq!(BufferType::Cpu.resolve().unwrap().name(), "CPU");
    }
}
