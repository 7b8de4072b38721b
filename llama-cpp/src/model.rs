//! [`LlamaModel`]: loaded weights, metadata and chat templates.

pub mod params;

// llama-cpp-2 keeps these in `model`; here they live with the vocabulary.
pub use crate::vocab::{AddBos, Special};

use crate::backend::{clear_last_error, take_last_error};
use crate::error::{to_cstring, LlamaError, Result};
use crate::gguf::GgufFile;
use crate::offload::{read_breakdown, BufferMemory};
use crate::vocab::LlamaVocab;
use crate::{sys, LlamaBackend};
use params::{LlamaModelParams, ParamsStorage};
use std::ffi::{CStr, CString};
use std::os::raw::c_char;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;

/// A loaded model. Freed on drop.
///
/// ```no_run
/// use llama_cpp_moe::{LlamaBackend, LlamaModel, LlamaModelParams};
/// let backend = LlamaBackend::init()?;
/// let params = LlamaModelParams::default().with_cpu_moe_all();
/// let model = LlamaModel::load_from_file(&backend, "models/smollm2-moe.gguf", &params)?;
/// println!("{} layers, {} experts", model.n_layer(), model.n_expert());
/// # Ok::<(), llama_cpp_moe::LlamaError>(())
/// ```
pub struct LlamaModel {
    raw: NonNull<sys::llama_model>,
    // llama.cpp keeps a copy of `llama_model_params`, override pointers
    // included, for the model's whole life: keep what they point to alive.
    _storage: ParamsStorage,
    path: PathBuf,
}

// SAFETY: after loading, a llama_model is read-only; llama.cpp documents that
// one model may serve several contexts on different threads (each context
// being used by one thread at a time), which is what Send + Sync allow here:
// `LlamaContext` borrows the model and is itself not Sync.
unsafe impl Send for LlamaModel {}
// SAFETY: as above; every `&self` method is a read of immutable model data.
unsafe impl Sync for LlamaModel {}

/// A chat message for [`LlamaModel::apply_chat_template`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlamaChatMessage {
    role: CString,
    content: CString,
}

impl LlamaChatMessage {
    /// A message; NUL bytes are rejected.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Result<Self> {
        Ok(Self {
            role: to_cstring("chat role", &role.into())?,
            content: to_cstring("chat content", &content.into())?,
        })
    }
}

impl LlamaModel {
    /// Loads a GGUF model.
    ///
    /// The file is checked first (exists, is a file, has a readable GGUF
    /// header), so the common mistakes are typed errors with a reason
    /// rather than a NULL from llama.cpp.
    pub fn load_from_file(
        _backend: &LlamaBackend,
        path: impl AsRef<Path>,
        params: &LlamaModelParams,
    ) -> Result<Self> {
        let path = path.as_ref();
        check_model_file(path)?;
        let c_path = path_to_cstring(path)?;
        let progress = params.progress_load();
        let raw_params = params.as_raw(progress.as_deref());
        clear_last_error();
        // SAFETY: c_path is a valid C string; every pointer inside raw_params
        // points into Arc-owned storage of `params` (alive for this call) or
        // into the boxed `progress`, which the model keeps afterwards.
        let raw = unsafe { sys::llama_model_load_from_file(c_path.as_ptr(), raw_params) };
        if let Some(payload) = progress.as_ref().and_then(|p| p.take_panic()) {
            if let Some(model) = NonNull::new(raw) {
                // SAFETY: a model we own and have not handed out.
                unsafe { sys::llama_model_free(model.as_ptr()) };
            }
            std::panic::resume_unwind(payload);
        }
        let raw = NonNull::new(raw).ok_or_else(|| LlamaError::ModelLoad {
            path: path.to_owned(),
            reason: take_last_error()
                .unwrap_or_else(|| "llama.cpp returned no model (load cancelled or failed)".into()),
        })?;
        Ok(Self {
            raw,
            _storage: params.keep_alive(progress),
            path: path.to_owned(),
        })
    }

    /// The raw handle, for calls this crate does not wrap.
    ///
    /// # Safety
    /// The pointer is valid while `self` lives; do not free it, and do not
    /// use it to mutate the model while contexts exist.
    pub unsafe fn as_ptr(&self) -> *mut sys::llama_model {
        self.raw.as_ptr()
    }

    /// The file this model was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The vocabulary.
    pub fn vocab(&self) -> LlamaVocab<'_> {
        // SAFETY: the model is valid; the vocab lives as long as the model.
        LlamaVocab::new(unsafe { sys::llama_model_get_vocab(self.raw.as_ptr()) })
    }

    /// Number of tokens in the vocabulary.
    pub fn n_vocab(&self) -> i32 {
        self.vocab().n_tokens()
    }

    /// Number of layers.
    pub fn n_layer(&self) -> u32 {
        // SAFETY: reads immutable model data.
        unsafe { sys::llama_model_n_layer(self.raw.as_ptr()) }.max(0) as u32
    }

    /// Embedding size.
    pub fn n_embd(&self) -> i32 {
        // SAFETY: reads immutable model data.
        unsafe { sys::llama_model_n_embd(self.raw.as_ptr()) }
    }

    /// Training context length.
    pub fn n_ctx_train(&self) -> u32 {
        // SAFETY: reads immutable model data.
        unsafe { sys::llama_model_n_ctx_train(self.raw.as_ptr()) }.max(0) as u32
    }

    /// Number of experts per MoE layer (0 for a dense model), from metadata.
    pub fn n_expert(&self) -> u32 {
        self.arch_meta_u32("expert_count").unwrap_or(0)
    }

    /// Experts used per token (0 for a dense model), from metadata.
    pub fn n_expert_used(&self) -> u32 {
        self.arch_meta_u32("expert_used_count").unwrap_or(0)
    }

    /// Number of parameters.
    pub fn n_params(&self) -> u64 {
        // SAFETY: reads immutable model data.
        unsafe { sys::llama_model_n_params(self.raw.as_ptr()) }
    }

    /// Total size of the weights in bytes.
    pub fn size(&self) -> u64 {
        // SAFETY: reads immutable model data.
        unsafe { sys::llama_model_size(self.raw.as_ptr()) }
    }

    /// The architecture name, e.g. `llama`, `gpt-oss`, `qwen3moe`.
    pub fn architecture(&self) -> Option<String> {
        self.meta_val_str("general.architecture")
    }

    /// llama.cpp's one-line description (type, size, quantisation).
    pub fn desc(&self) -> String {
        // SAFETY: the buffer is writable for its length; the result is the
        // full length (possibly larger than the buffer).
        read_c_string(|buf, len| unsafe { sys::llama_model_desc(self.raw.as_ptr(), buf, len) })
            .unwrap_or_default()
    }

    /// A metadata value rendered as a string, by key.
    pub fn meta_val_str(&self, key: &str) -> Option<String> {
        let key = CString::new(key).ok()?;
        // SAFETY: key is a valid C string; the buffer is writable for its length.
        read_c_string(|buf, len| unsafe {
            sys::llama_model_meta_val_str(self.raw.as_ptr(), key.as_ptr(), buf, len)
        })
    }

    /// Every metadata key/value pair, values rendered as strings.
    pub fn metadata(&self) -> Vec<(String, String)> {
        // SAFETY: reads immutable model data.
        let count = unsafe { sys::llama_model_meta_count(self.raw.as_ptr()) };
        (0..count)
            .filter_map(|i| {
                // SAFETY: i < count; buffers are writable for their length.
                let key = read_c_string(|buf, len| unsafe {
                    sys::llama_model_meta_key_by_index(self.raw.as_ptr(), i, buf, len)
                })?;
                // SAFETY: as above.
                let value = read_c_string(|buf, len| unsafe {
                    sys::llama_model_meta_val_str_by_index(self.raw.as_ptr(), i, buf, len)
                })?;
                Some((key, value))
            })
            .collect()
    }

    fn arch_meta_u32(&self, suffix: &str) -> Option<u32> {
        self.meta_val_str(&format!("{}.{suffix}", self.architecture()?))?
            .trim()
            .parse()
            .ok()
    }

    /// The model's chat template (`None`: the default one), if it has it.
    pub fn chat_template(&self, name: Option<&str>) -> Result<String> {
        let name = name
            .map(|n| to_cstring("chat template name", n))
            .transpose()?;
        // SAFETY: name is NULL or a valid C string; the returned pointer is
        // owned by the model and NUL-terminated.
        let tmpl = unsafe {
            sys::llama_model_chat_template(
                self.raw.as_ptr(),
                name.as_ref().map_or(std::ptr::null(), |n| n.as_ptr()),
            )
        };
        if tmpl.is_null() {
            return Err(LlamaError::ChatTemplate(
                "the model has no chat template".into(),
            ));
        }
        // SAFETY: checked non-null above.
        Ok(unsafe { CStr::from_ptr(tmpl) }
            .to_string_lossy()
            .into_owned())
    }

    /// Formats a conversation with a chat template (llama.cpp's built-in
    /// implementations of the common templates; no Jinja engine).
    pub fn apply_chat_template(
        &self,
        template: &str,
        messages: &[LlamaChatMessage],
        add_assistant: bool,
    ) -> Result<String> {
        let tmpl = to_cstring("chat template", template)?;
        let chat: Vec<sys::llama_chat_message> = messages
            .iter()
            .map(|m| sys::llama_chat_message {
                role: m.role.as_ptr(),
                content: m.content.as_ptr(),
            })
            .collect();
        let guess: usize = messages
            .iter()
            .map(|m| m.content.as_bytes().len() + m.role.as_bytes().len())
            .sum::<usize>()
            * 2
            + 256;
        let mut buf = vec![0u8; guess];
        for _ in 0..2 {
            let len = i32::try_from(buf.len()).unwrap_or(i32::MAX);
            // SAFETY: all strings are live CStrings; chat has `chat.len()`
            // entries; buf is writable for `len` bytes.
            let n = unsafe {
                sys::llama_chat_apply_template(
                    tmpl.as_ptr(),
                    chat.as_ptr(),
                    chat.len(),
                    add_assistant,
                    buf.as_mut_ptr().cast(),
                    len,
                )
            };
            if n < 0 {
                return Err(LlamaError::ChatTemplate(
                    "llama.cpp does not support this template".into(),
                ));
            }
            let n = n as usize;
            if n <= buf.len() {
                buf.truncate(n);
                return String::from_utf8(buf).map_err(|e| {
                    LlamaError::ChatTemplate(format!("template produced invalid UTF-8: {e}"))
                });
            }
            buf.resize(n, 0);
        }
        Err(LlamaError::ChatTemplate(
            "formatted prompt kept growing".into(),
        ))
    }

    /// Bytes of weights per buffer type, from llama.cpp's own accounting
    /// after the load (`CPU`, `CPU_Mapped`, `CPU_REPACK`, `CUDA0`, ...).
    pub fn memory_breakdown(&self) -> Result<Vec<BufferMemory>> {
        // SAFETY: the model is valid; the shim writes at most `cap` entries
        // and catches every C++ exception.
        read_breakdown(|out, cap| unsafe {
            sys::llama_rs_model_memory_breakdown(self.raw.as_ptr(), out, cap)
        })
    }
}

impl Drop for LlamaModel {
    fn drop(&mut self) {
        // SAFETY: we own the model; contexts borrow it, so none outlives it.
        unsafe { sys::llama_model_free(self.raw.as_ptr()) }
    }
}

impl std::fmt::Debug for LlamaModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlamaModel")
            .field("path", &self.path)
            .field("desc", &self.desc())
            .finish()
    }
}

/// Rejects what llama.cpp would only report as NULL: a missing path, a
/// directory, an empty file, a file that is not GGUF or whose header is cut.
fn check_model_file(path: &Path) -> Result<()> {
    let bad = |reason: String| LlamaError::ModelFile {
        path: path.to_owned(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
    if !meta.is_file() {
        return Err(bad("not a regular file".into()));
    }
    if meta.len() == 0 {
        return Err(bad("the file is empty".into()));
    }
    GgufFile::open(path)?;
    Ok(())
}

/// The path as llama.cpp's `fopen` wants it: the OS's bytes on Unix, where
/// a file name need not be UTF-8; UTF-8 elsewhere (`ggml_fopen` converts
/// it to UTF-16 on Windows).
fn path_to_cstring(path: &Path) -> Result<CString> {
    #[cfg(unix)]
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()).to_vec();
    #[cfg(not(unix))]
    let bytes = path
        .to_str()
        .ok_or_else(|| LlamaError::ModelFile {
            path: path.to_owned(),
            reason: "the path is not valid Unicode".into(),
        })?
        .as_bytes()
        .to_vec();
    CString::new(bytes).map_err(|err| LlamaError::InteriorNul {
        what: "model path",
        position: err.nul_position(),
    })
}

/// Calls a llama.cpp "write into buf, return the full length" function,
/// growing the buffer once if needed.
pub(crate) fn read_c_string(mut call: impl FnMut(*mut c_char, usize) -> i32) -> Option<String> {
    let mut buf = vec![0u8; 256];
    for _ in 0..2 {
        let n = call(buf.as_mut_ptr().cast(), buf.len());
        let n = usize::try_from(n).ok()?;
        if n < buf.len() {
            buf.truncate(n);
            return Some(String::from_utf8_lossy(&buf).into_owned());
        }
        buf.resize(n + 1, 0);
    }
    None
}
