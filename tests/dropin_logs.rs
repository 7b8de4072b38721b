//! `send_logs_to_tracing` (llama-cpp-2's name) forwards llama.cpp's log to the `log` facade,
//! which `tracing` subscribers bridge, or drops it. Alone in its binary: the logger and the
//! choice are process-wide.

use llama_cpp::llama_backend::LlamaBackend;
use llama_cpp::model::params::LlamaModelParams;
use llama_cpp::{send_logs_to_tracing, LogOptions};
use llama_cpp_rs_moe::models::load_dense;
use std::sync::Mutex;

/// Every record logged under llama.cpp's target.
static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        if record.target() == "llama.cpp" {
            LINES.lock().unwrap().push(record.args().to_string());
        }
    }

    fn flush(&self) {}
}

fn lines_while_loading() -> Vec<String> {
    LINES.lock().unwrap().clear();
    let backend = LlamaBackend::init().unwrap();
    let params = LlamaModelParams::default().with_vocab_only(true);
    drop(load_dense(&backend, &params));
    std::mem::take(&mut *LINES.lock().unwrap())
}

#[test]
fn logs_are_forwarded_to_log_or_dropped() {
    log::set_logger(&Capture).unwrap();
    log::set_max_level(log::LevelFilter::Trace);

    // Before the backend exists, as upstream's simple example calls it.
    send_logs_to_tracing(LogOptions::default().with_logs_enabled(false));
    assert_eq!(lines_while_loading(), Vec::<String>::new());

    send_logs_to_tracing(LogOptions::default());
    let lines = lines_while_loading();
    assert!(
        lines.iter().any(|l| l.contains("llama_model_loader")),
        "{lines:#?}"
    );
}
