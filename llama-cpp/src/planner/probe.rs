//! The real [`MemoryProbe`]: llama.cpp's own accounting of a candidate, from
//! a `no_alloc` load and context (the loader and the context size every
//! buffer, KV cache and compute graph exactly, and allocate none of them).

use super::patterns::host_patterns;
use super::search::{Candidate, DeviceBytes, Measured, MemoryProbe, Problem};
use super::PlanError;
use crate::{BufferType, LlamaBackend, LlamaContextParams, LlamaModel, LlamaModelParams, LoadMode};
use std::collections::BTreeMap;
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
        if let Some(n) = problem.n_gpu_layers {
            params = params.with_n_gpu_layers(n);
        }
        for pattern in host_patterns(&host, self.biases_follow) {
            params = params.with_tensor_override(&pattern, BufferType::Cpu)?;
        }
        let ctx_params = self
            .ctx_params
            .clone()
            .with_n_ctx(NonZeroU32::new(c.n_ctx))
            .with_n_batch(c.n_batch)
            .with_n_ubatch(c.n_ubatch);
        let mut measured = Measured {
            gpus: vec![DeviceBytes::default(); self.gpu_names.len()],
            host: Default::default(),
        };
        for (device, bytes) in dry_run(&self.backend, self.path, &params, &ctx_params)? {
            if device == "CPU" {
                measured.host.add(bytes);
            } else if let Some(i) = self.gpu_names.iter().position(|n| *n == device) {
                measured.gpus[i].add(bytes);
            } else if bytes.total() > 0 {
                return Err(PlanError::Probe(format!(
                    "llama.cpp put {} bytes on {device}, which the plan does not budget",
                    bytes.total()
                )));
            }
        }
        Ok(measured)
    }
}

/// llama.cpp's accounting of `params` and `ctx_params` per device (`CPU` for
/// host memory): a `no_alloc` load and context, nothing allocated.
pub(crate) fn dry_run(
    backend: &LlamaBackend,
    path: &Path,
    params: &LlamaModelParams,
    ctx_params: &LlamaContextParams,
) -> Result<BTreeMap<String, DeviceBytes>, PlanError> {
    let params = params.clone().with_no_alloc(true);
    let model = LlamaModel::load_from_file(backend, path, &params)?;
    let ctx = model.new_context(backend, ctx_params.clone())?;
    let mut out: BTreeMap<String, DeviceBytes> = BTreeMap::new();
    for buffer in ctx.memory_breakdown()? {
        let bytes = DeviceBytes {
            weights: buffer.model,
            kv: buffer.context,
            compute: buffer.compute,
        };
        out.entry(buffer.device).or_default().add(bytes);
    }
    Ok(out)
}
