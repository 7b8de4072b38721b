//! [`BufferMemory`]: bytes llama.cpp allocated per buffer type, read from its
//! own accounting after a load (the measured counterpart of the plan).

use super::buffer_type::BuftPtr;
use crate::error::{LlamaError, Result};
use crate::sys;
use std::ptr::NonNull;

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
pub(crate) fn read_breakdown(
    fill: impl Fn(*mut sys::llama_rs_buft_memory, usize) -> i64,
) -> Result<Vec<BufferMemory>> {
    let failed = || LlamaError::InvalidParameter {
        name: "memory breakdown",
        reason: "llama.cpp reported an error".into(),
    };
    let count = usize::try_from(fill(std::ptr::null_mut(), 0)).map_err(|_| failed())?;
    let mut raw = vec![
        sys::llama_rs_buft_memory {
            buft: std::ptr::null_mut(),
            model: 0,
            context: 0,
            compute: 0
        };
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
