//! The real [`MemoryProbe`]: llama.cpp's own accounting of a candidate, from
//! a `no_alloc` load and context (the loader and the context size every
//! buffer, KV cache and compute graph exactly, and allocate none of them).

use super::patterns::host_patterns;
use super::search::{Candidate, DeviceBytes, Measured, MemoryProbe, Problem};
use super::PlanError;
use crate::{BufferType, LlamaBackend, LlamaContextParams, LlamaModel, LlamaModelParams, LoadMode};
use std::num::NonZeroU32;
use std::path::Path;

/// Dry runs of one model with the caller's params plus a candidate's
/// host-expert overrides.
pub(crate) struct DryRun<'a> {
    pub backend: LlamaBackend,
    pub path: &'a Path,
    pub params: &'a LlamaModelParams,
    pub ctx_params: &'a LlamaContextParams,
    pub gpu_names: &'a [String],
    pub biases_follow: bool,
}

impl MemoryProbe for DryRun<'_> {
    fn measure(&mut self, problem: &Problem, c: &Candidate) -> Result<Measured, PlanError> {
        let host: Vec<_> = problem.host_units(c).map(|u| (u.layer, u.part)).collect();
        // As llama.cpp's fit: no allocation, and read mode, so host weights
        // are accounted the way a real (read) load allocates them.
        let mut params = self
            .params
            .clone()
            .with_no_alloc(true)
            .with_load_mode(LoadMode::Read);
        for pattern in host_patterns(&host, self.biases_follow) {
            params = params.with_tensor_override(&pattern, BufferType::Cpu)?;
        }
        let model = LlamaModel::load_from_file(&self.backend, self.path, &params)?;
        let ctx_params = self
            .ctx_params
            .clone()
            .with_n_ctx(NonZeroU32::new(c.n_ctx))
            .with_n_batch(c.n_batch)
            .with_n_ubatch(c.n_ubatch);
        let ctx = model.new_context(&self.backend, ctx_params)?;
        let mut measured = Measured {
            gpus: vec![DeviceBytes::default(); self.gpu_names.len()],
            host: Default::default(),
        };
        for buffer in ctx.memory_breakdown()? {
            let bytes = DeviceBytes {
                weights: buffer.model,
                kv: buffer.context,
                compute: buffer.compute,
            };
            if buffer.device == "CPU" {
                measured.host.add(bytes);
            } else if let Some(i) = self.gpu_names.iter().position(|n| *n == buffer.device) {
                measured.gpus[i].add(bytes);
            } else if bytes.total() > 0 {
                return Err(PlanError::Probe(format!(
                    "llama.cpp put {} bytes on {}, which the plan does not budget",
                    bytes.total(),
                    buffer.device
                )));
            }
        }
        Ok(measured)
    }
}
