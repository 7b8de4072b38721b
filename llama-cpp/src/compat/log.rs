//! llama-cpp-2's `send_logs_to_tracing` and `LogOptions`, on this crate's `log` routing.
//!
//! This crate forwards llama.cpp's and ggml's log to the [`log`] facade (target `llama.cpp`)
//! and takes no `tracing` dependency: a `tracing` subscriber receives those records through
//! `tracing-log`, which `tracing_subscriber::fmt().init()` installs by default; any other `log`
//! backend (env_logger, ...) works the same way. So `send_logs_to_tracing` only chooses
//! whether lines are forwarded at all.

use crate::backend::{install_log_forwarding, set_logs_enabled};

/// Options for [`send_logs_to_tracing`]: logs are forwarded unless disabled.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    disabled: bool,
}

impl LogOptions {
    /// Forwards llama.cpp's log (`true`, the default) or drops it (`false`).
    #[must_use]
    pub fn with_logs_enabled(mut self, enabled: bool) -> Self {
        self.disabled = !enabled;
        self
    }

    /// Whether log lines are forwarded.
    #[must_use]
    pub fn logs_enabled(&self) -> bool {
        !self.disabled
    }
}

/// Routes llama.cpp's and ggml's log to the [`log`] facade (and so to a `tracing` subscriber
/// that bridges `log`, see the module docs), or drops it when `options` disable logs.
///
/// Process-wide; a later call replaces the choice (llama-cpp-2 keeps the first).
/// [`crate::LlamaBackend::void_logs`] drops the log the same way.
pub fn send_logs_to_tracing(options: LogOptions) {
    install_log_forwarding();
    set_logs_enabled(options.logs_enabled());
}

#[cfg(test)]
mod tests {
    use super::LogOptions;

    #[test]
    fn options_default_to_enabled() {
        assert!(LogOptions::default().logs_enabled());
        assert!(!LogOptions::default()
            .with_logs_enabled(false)
            .logs_enabled());
    }
}
