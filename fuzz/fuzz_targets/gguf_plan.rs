//! Arbitrary bytes through the GGUF header reader and, when it accepts them,
//! the offload plan (layer parsing, override matching with llama.cpp's
//! std::regex, per-buffer sums). Neither may panic, abort or overflow: run it
//! with `--dev` too (`cargo fuzz run --dev gguf_plan`), where overflow checks
//! and debug assertions are on.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llama_cpp::gguf::GgufFile;
use llama_cpp::{LlamaModelParams, OffloadPlan};
use std::sync::OnceLock;

fn params() -> &'static [LlamaModelParams] {
    static PARAMS: OnceLock<Vec<LlamaModelParams>> = OnceLock::new();
    PARAMS.get_or_init(|| {
        vec![
            LlamaModelParams::default(),
            LlamaModelParams::default().with_cpu_moe_all(),
            LlamaModelParams::default()
                .with_n_gpu_layers(3)
                .with_n_cpu_moe(7),
            // The largest count: `n_layer + 1 - n_gpu_layers` at its extreme.
            LlamaModelParams::default().with_n_gpu_layers(u32::MAX),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = GgufFile::from_bytes(data) {
        for params in params() {
            if let Ok(plan) = OffloadPlan::from_gguf(&file, params) {
                let total: u64 = plan.bytes_by_buffer_type().values().sum();
                let direct: u64 = plan.tensors.iter().map(|t| t.n_bytes).sum();
                assert_eq!(total, direct);
                let _ = plan.to_string();
            }
        }
    }
});
