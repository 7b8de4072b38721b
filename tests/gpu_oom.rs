//! Out of GPU memory is an error, never an abort: a model whose GPU part no
//! longer fits, and a context whose KV cache cannot fit.
//!
//! Ignored by default: it needs a GPU build and `LLAMA_OOM_MODEL` pointing at
//! a model of several GiB. `scripts/gpu/run.sh gpu-checks` runs it on the GPU
//! machine with the GPT-OSS-20B-shaped file of `synth_moe`. It fills VRAM by
//! loading the same model again and again, keeping every copy, until
//! llama.cpp cannot allocate the next one.

use llama_cpp::{
    list_llama_ggml_backend_devices, LlamaBackend, LlamaBackendDeviceType, LlamaContextParams,
    LlamaError, LlamaModel, LlamaModelParams, LoadMode,
};
use std::num::NonZeroU32;

#[test]
#[ignore = "needs a GPU and LLAMA_OOM_MODEL; run by scripts/gpu/run.sh gpu-checks"]
fn gpu_out_of_memory_is_an_error() {
    let path =
        std::env::var_os("LLAMA_OOM_MODEL").expect("set LLAMA_OOM_MODEL to a model of several GiB");
    let gpu = list_llama_ggml_backend_devices()
        .into_iter()
        .find(|d| d.device_type == LlamaBackendDeviceType::Gpu);
    let gpu = gpu.expect("this test needs a GPU build on a GPU machine");
    let backend = LlamaBackend::init().unwrap();
    let params = LlamaModelParams::default()
        .with_n_gpu_layers(999)
        .with_load_mode(LoadMode::Read);

    // A context far larger than any GPU: tens of millions of KV cells.
    let model = LlamaModel::load_from_file(&backend, &path, &params).unwrap();
    let huge = LlamaContextParams::default().with_n_ctx(NonZeroU32::new(1 << 25));
    match model.new_context(&backend, huge) {
        Err(LlamaError::ContextCreate(reason)) => eprintln!("context too large for VRAM: {reason}"),
        other => panic!("expected ContextCreate, got {other:?}"),
    }
    // A normal context still works afterwards.
    assert!(model
        .new_context(
            &backend,
            LlamaContextParams::default().with_n_ctx(NonZeroU32::new(512))
        )
        .is_ok());

    // Models until VRAM is full: the first that does not fit is an error.
    let mut models = vec![model];
    let limit = (gpu.memory_total as u64 / 1_000_000_000).max(2) + 2; // more copies than can fit
    let err = loop {
        match LlamaModel::load_from_file(&backend, &path, &params) {
            Ok(model) => models.push(model),
            Err(err) => break err,
        }
        assert!(
            models.len() as u64 <= limit as u64,
            "{} copies loaded and VRAM never ran out",
            models.len()
        );
    };
    eprintln!("copy {} did not fit: {err}", models.len() + 1);
    assert!(matches!(err, LlamaError::ModelLoad { .. }), "{err:?}");
    // Freeing one makes room again.
    models.pop();
    assert!(LlamaModel::load_from_file(&backend, &path, &params).is_ok());
}
