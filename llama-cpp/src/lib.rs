//! Safe Rust bindings to [llama.cpp](https://github.com/ggml-org/llama.cpp),
//! made for running Mixture-of-Experts models on small GPUs: the expert
//! weights stay in host memory, everything else goes to the GPU.
//!
//! The names follow [llama-cpp-2](https://crates.io/crates/llama-cpp-2)
//! (`LlamaBackend`, `LlamaModel::load_from_file`, `LlamaModelParams::with_*`,
//! `LlamaContextParams`, `LlamaBatch`, `LlamaSampler`), so code moves over
//! easily. What is new: tensor overrides owned by the params (sound whatever
//! the caller does with its strings), `with_cpu_moe_all()`,
//! `with_n_cpu_moe(n)`, `with_tensor_override(pattern, BufferType)`,
//! patterns validated with llama.cpp's own `std::regex`, and placement you
//! can see before ([`OffloadPlan`]) and after ([`LlamaModel::memory_breakdown`])
//! loading.
//!
//! ```no_run
//! use llama_cpp_moe::{AddBos, LlamaBackend, LlamaBatch, LlamaContextParams, LlamaModel, LlamaModelParams, LlamaSampler, Special};
//!
//! let backend = LlamaBackend::init()?;
//! let params = LlamaModelParams::default().with_n_gpu_layers(999).with_cpu_moe_all();
//! let model = LlamaModel::load_from_file(&backend, "models/smollm2-moe.gguf", &params)?;
//! let mut ctx = model.new_context(&backend, LlamaContextParams::default())?;
//!
//! let vocab = model.vocab();
//! let prompt = vocab.tokenize("The capital of France is", AddBos::Always, false)?;
//! let mut batch = LlamaBatch::new(512, 1);
//! batch.add_sequence(&prompt, 0, false)?;
//! ctx.decode(&mut batch)?;
//!
//! let mut sampler = LlamaSampler::greedy();
//! let mut pos = prompt.len() as i32;
//! for _ in 0..16 {
//!     let token = sampler.sample(&ctx, -1)?;
//!     if vocab.is_eog(token) { break; }
//!     print!("{}", vocab.token_to_piece(token, Special::Tokenize)?);
//!     batch.clear();
//!     batch.add(token, pos, &[0], true)?;
//!     pos += 1;
//!     ctx.decode(&mut batch)?;
//! }
//! # Ok::<(), llama_cpp_moe::LlamaError>(())
//! ```
#![warn(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

/// The raw bindings, for what this crate does not wrap.
pub use llama_cpp_sys as sys;

mod backend;
mod batch;
mod compat;
pub mod context;
mod devices;
mod error;
pub mod gguf;
pub mod model;
pub mod offload;
pub mod planner;
pub mod routing;
// The path `sampling` is llama-cpp-2's (see `compat`), whose sampler returns a bare token; this
// crate's own sampler is re-exported at the root.
mod sampler;
mod thread_pool;
mod vocab;

// llama-cpp-2's module paths and free functions, so its users can switch by renaming the
// dependency; README "Drop-in for llama-cpp-2" lists what is left out and why.
pub use compat::{
    ggml_time_us, llama_supports_mlock, llama_time_us, max_devices, mlock_supported,
    mmap_supported, send_logs_to_tracing, LogOptions,
};
pub use compat::{llama_backend, llama_batch, sampling, token};
pub use compat::{
    ApplyChatTemplateError, ChatTemplateError, DecodeError, LlamaContextLoadError, LlamaCppError,
    LlamaModelLoadError, NewLlamaChatMessageError, StringToTokenError, TokenToStringError,
};

pub use backend::LlamaBackend;
pub use batch::LlamaBatch;
pub use context::{FlashAttention, LlamaContext, LlamaContextParams, PerfContextData};
pub use devices::{list_llama_ggml_backend_devices, LlamaBackendDevice, LlamaBackendDeviceType};
pub use error::{LlamaError, Result};
pub use model::params::{LlamaModelParams, LlamaSplitMode, LoadMode, ParamOverrideValue};
pub use model::{LlamaChatMessage, LlamaModel};
pub use offload::{BufferMemory, BufferType, OffloadPlan, PlannedTensor, TensorOverride};
pub use planner::{Budget, Plan, PlanError, Planner};
pub use sampler::LlamaSampler;
pub use thread_pool::{CpuThreadPool, ThreadPoolSettings, ThreadPriority};
pub use vocab::{AddBos, LlamaToken, LlamaVocab, Special, TokenDecoder};
