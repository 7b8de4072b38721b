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
//!
//! One file per concept: [`BufferType`] and its resolution to a ggml buffer
//! type (`buffer_type.rs`), [`TensorRegex`] (`regex.rs`), the `--cpu-moe` and
//! `--n-cpu-moe` patterns (`cpu_moe.rs`), [`TensorOverride`] and the C array
//! the loader reads (`overrides.rs`), llama.cpp's tensor names (`names.rs`),
//! [`OffloadPlan`], the placement predicted before loading (`plan.rs`), and
//! [`BufferMemory`], the placement measured after it (`memory.rs`).

mod buffer_type;
mod cpu_moe;
mod memory;
mod names;
mod overrides;
mod plan;
mod regex;

pub use buffer_type::BufferType;
pub(crate) use cpu_moe::numbers_alternation;
pub use cpu_moe::{n_cpu_moe_pattern, LLAMA_MAX_LAYERS, MOE_EXPERTS_PATTERN};
pub(crate) use memory::read_breakdown;
pub use memory::BufferMemory;
pub(crate) use names::is_input_tensor;
pub use names::{split_layer_tensor, tensor_layer};
pub(crate) use overrides::OverrideArray;
pub use overrides::TensorOverride;
pub use plan::{OffloadPlan, PlannedTensor};
pub use regex::TensorRegex;
