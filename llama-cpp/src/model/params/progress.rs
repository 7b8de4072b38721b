//! The progress callback's storage: the caller's closure, shared by params and
//! their clones, and the state of one load ([`ProgressLoad`]) that llama.cpp's C
//! callback ([`progress_trampoline`]) reaches through its user-data pointer.

use std::any::Any;
use std::sync::{Arc, Mutex, PoisonError};

pub(super) type ProgressFn = dyn FnMut(f32) -> bool + Send;

/// A progress callback, shared by params and their clones (loads through
/// clones call it one at a time).
pub(super) type SharedProgress = Arc<Mutex<Box<ProgressFn>>>;

/// What the C trampoline of one load sees: the callback, and a panic slot
/// of this load alone, so concurrent loads through clones never re-raise
/// each other's panic. Boxed, and kept by the loaded model: llama.cpp keeps
/// `progress_callback_user_data` in its copy of the params.
pub(crate) struct ProgressLoad {
    callback: SharedProgress,
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

impl ProgressLoad {
    /// The state of a new load through `callback`.
    pub(super) fn new(callback: SharedProgress) -> Self {
        Self {
            callback,
            panic: Mutex::new(None),
        }
    }

    /// The callback's panic during this load, if it panicked.
    pub(crate) fn take_panic(&self) -> Option<Box<dyn Any + Send>> {
        self.panic
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// The C progress callback. Never unwinds: a panic is stored in this load's
/// slot and re-raised by the loader after llama.cpp returns.
pub(super) extern "C" fn progress_trampoline(
    progress: f32,
    user_data: *mut std::os::raw::c_void,
) -> bool {
    // SAFETY: user_data is the boxed ProgressLoad that `load_from_file` made
    // for this load; it lives until llama.cpp has returned (and then in the
    // model), and is only read through `&`.
    let load = unsafe { &*(user_data as *const ProgressLoad) };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // A lock poisoned by an earlier load's panic is still the callback:
        // refusing it would cancel every later load.
        let mut callback = load.callback.lock().unwrap_or_else(PoisonError::into_inner);
        callback(progress)
    }));
    match result {
        Ok(keep_going) => keep_going,
        Err(payload) => {
            load.panic
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_or_insert(payload);
            false
        }
    }
}
