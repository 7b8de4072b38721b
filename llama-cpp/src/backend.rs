//! Process-wide llama.cpp initialisation and log routing.

use crate::sys;
use std::cell::RefCell;
use std::ffi::CStr;
use std::os::raw::{c_char, c_void};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Once;

thread_local! {
    /// The last error line llama.cpp logged on this thread: the loader logs
    /// why it failed and then returns NULL, so this is the best reason we get.
    static LAST_ERROR: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Forgets the last logged error of this thread (before a fallible call).
pub(crate) fn clear_last_error() {
    LAST_ERROR.with(|last| last.borrow_mut().take());
}

/// The last error line llama.cpp logged on this thread since `clear_last_error`.
pub(crate) fn take_last_error() -> Option<String> {
    LAST_ERROR.with(|last| last.borrow_mut().take())
}

static INIT: Once = Once::new();
/// Installs `forward_log`; separate from `INIT` so that `send_logs_to_tracing` can route the log
/// before the backend exists, as llama-cpp-2's does.
static LOG_INIT: Once = Once::new();
/// When set, llama.cpp's log lines are dropped instead of forwarded.
static LOGS_SILENCED: AtomicBool = AtomicBool::new(false);
/// Level of the last line, for GGML_LOG_LEVEL_CONT continuations.
// `as u32` here and in `forward_log`: bindgen gives C enums the compiler's
// enum type, u32 with GCC and Clang but i32 with MSVC.
#[allow(clippy::unnecessary_cast)]
static LAST_LEVEL: AtomicU32 = AtomicU32::new(sys::GGML_LOG_LEVEL_INFO as u32);

/// A token proving llama.cpp's backends are initialised. Models are loaded
/// through it, like in llama-cpp-2.
///
/// Initialisation happens once per process; further `init` calls are cheap
/// and return another handle. llama.cpp's log is forwarded to the
/// [`log`] crate under the target `llama.cpp` (use [`LlamaBackend::void_logs`]
/// to drop it).
///
/// ```
/// let backend = llama_cpp_moe::LlamaBackend::init()?;
/// assert!(!llama_cpp_moe::list_llama_ggml_backend_devices().is_empty());
/// # drop(backend);
/// # Ok::<(), llama_cpp_moe::LlamaError>(())
/// ```
#[derive(Debug, Clone)]
pub struct LlamaBackend {
    _private: (),
}

impl LlamaBackend {
    /// Initialises llama.cpp (once per process) and routes its log.
    pub fn init() -> crate::Result<Self> {
        install_log_forwarding();
        INIT.call_once(|| {
            // SAFETY: `call_once` runs this once per process, after
            // `install_log_forwarding` (see its SAFETY note on the logger
            // globals). llama_backend_init only sets up ggml's timer, f16
            // tables and backend registry, and may follow earlier ggml use.
            unsafe { sys::llama_backend_init() };
        });
        Ok(Self { _private: () })
    }

    /// Drops llama.cpp's log output from now on (process-wide).
    pub fn void_logs(&mut self) {
        LOGS_SILENCED.store(true, Ordering::Relaxed);
    }

    /// Whether this build can place weights on a GPU.
    pub fn supports_gpu_offload(&self) -> bool {
        // SAFETY: a pure query of compiled-in capabilities.
        unsafe { sys::llama_supports_gpu_offload() }
    }

    /// Whether mmap loading is supported on this platform.
    pub fn supports_mmap(&self) -> bool {
        // SAFETY: a pure query of compiled-in capabilities.
        unsafe { sys::llama_supports_mmap() }
    }

    /// llama.cpp's description of the CPU features it was built with.
    pub fn system_info(&self) -> String {
        // SAFETY: returns a pointer to a static, NUL-terminated buffer.
        unsafe { CStr::from_ptr(sys::llama_print_system_info()) }
            .to_string_lossy()
            .into_owned()
    }
}

/// Routes llama.cpp's and ggml's log to [`forward_log`] (once per process).
pub(crate) fn install_log_forwarding() {
    LOG_INIT.call_once(|| {
        // SAFETY: `call_once` runs this once per process. llama_log_set stores the callback in
        // llama.cpp's and ggml's logger globals without synchronisation, so no other thread may
        // be logging through llama.cpp at that moment: nothing of this crate that logs runs
        // before `LlamaBackend::init` or `send_logs_to_tracing`, except what needs no backend
        // (device lists, `OffloadPlan`, params), which callers are told to start after `init`
        // (README, Thread safety). The callback is a plain `extern "C" fn` that lives for the
        // whole program and never unwinds; the user data is unused, so NULL is fine.
        unsafe { sys::llama_log_set(Some(forward_log), std::ptr::null_mut()) };
    });
}

/// Forwards (`true`) or drops (`false`) llama.cpp's log lines from now on, process-wide.
pub(crate) fn set_logs_enabled(enabled: bool) {
    LOGS_SILENCED.store(!enabled, Ordering::Relaxed);
}

/// The log callback handed to llama.cpp. It must never unwind into C: the
/// body runs under `catch_unwind`, and a panicking logger loses one line.
#[allow(clippy::unnecessary_cast)] // see LAST_LEVEL
extern "C" fn forward_log(
    level: sys::ggml_log_level,
    text: *const c_char,
    _user_data: *mut c_void,
) {
    if text.is_null() {
        return;
    }
    let _ = std::panic::catch_unwind(|| {
        // SAFETY: llama.cpp passes a NUL-terminated string valid for the call.
        let text = unsafe { CStr::from_ptr(text) }.to_string_lossy();
        if level == sys::GGML_LOG_LEVEL_ERROR {
            let line = text.trim().to_owned();
            let _ = LAST_ERROR.try_with(|last| *last.borrow_mut() = Some(line));
        }
        if LOGS_SILENCED.load(Ordering::Relaxed) {
            return;
        }
        let level = if level == sys::GGML_LOG_LEVEL_CONT {
            LAST_LEVEL.load(Ordering::Relaxed)
        } else {
            LAST_LEVEL.store(level as u32, Ordering::Relaxed);
            level as u32
        };
        let level = match level {
            l if l == sys::GGML_LOG_LEVEL_ERROR as u32 => log::Level::Error,
            l if l == sys::GGML_LOG_LEVEL_WARN as u32 => log::Level::Warn,
            l if l == sys::GGML_LOG_LEVEL_INFO as u32 => log::Level::Info,
            _ => log::Level::Debug,
        };
        let line = text.trim_end_matches('\n');
        if !line.is_empty() {
            log::log!(target: "llama.cpp", level, "{line}");
        }
    });
}
