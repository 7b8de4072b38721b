//! Where the loader puts each tensor before the planner moves anything: the
//! caller's overrides first (as the loader tries them), then llama.cpp's
//! layer split. Tensors a caller's override matches are fixed: the planner
//! plans around them and never moves them.

use super::layout::{layer_slots, ExpertPart, ModelLayout, Slot};
use super::order::ExpertOrder;
use super::search::Unit;
use super::PlanError;
use crate::offload::{is_input_tensor, TensorRegex};
use crate::LlamaModelParams;

/// The starting placement of every tensor of a layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Setup {
    /// Per layout tensor: where the loader puts it.
    pub slots: Vec<Slot>,
    /// Per layout tensor: placed by one of the caller's overrides.
    pub fixed: Vec<bool>,
    /// The output layer's slot, for the copy of tied embeddings.
    pub output_slot: Slot,
    /// Whether the loader makes a second copy of `token_embd` for the output
    /// (tied embeddings, output layer off the host).
    pub tied_output_copy: Option<(usize, Slot)>,
    /// Number of planned GPUs.
    pub n_gpus: usize,
    /// The `n_gpu_layers` of this placement (negative: all).
    pub n_gpu_layers: i32,
    /// Free bytes per planned GPU (llama.cpp splits layers by them).
    pub gpu_free: Vec<u64>,
}

impl Setup {
    /// The placement `params` gives on the planned GPUs (`gpu_names`, with
    /// `gpu_free` bytes free each: llama.cpp splits layers by free memory).
    pub fn new(
        layout: &ModelLayout,
        params: &LlamaModelParams,
        gpu_names: &[String],
        gpu_free: &[u64],
    ) -> Result<Self, PlanError> {
        let overrides = params.tensor_overrides();
        let mut caller = Vec::with_capacity(overrides.len());
        for o in overrides {
            let device = o.device_name();
            let slot = if device == "CPU" {
                Slot::Host
            } else {
                match gpu_names.iter().position(|n| *n == device) {
                    Some(i) => Slot::Gpu(i),
                    None => {
                        return Err(PlanError::CallerOverride {
                            pattern: o.pattern().to_owned(),
                            reason: format!(
                                "its buffer type {} is on {device}, which is not among the \
                                 planned GPUs ({}); restrict or extend the devices to match",
                                o.buffer_type_name(),
                                gpu_names.join(", ")
                            ),
                        })
                    }
                }
            };
            caller.push((TensorRegex::new(o.pattern())?, slot));
        }
        let matched = |name: &str| caller.iter().find(|(re, _)| re.is_match(name)).map(|c| c.1);
        let n_gpu_layers = if gpu_names.is_empty() {
            0
        } else {
            params.n_gpu_layers()
        };
        Ok(Self::from_rules(layout, n_gpu_layers, gpu_free, matched))
    }

    /// The same from plain rules: `matched` gives the slot of a caller's
    /// override matching a name. Pure, for tests.
    pub fn from_rules(
        layout: &ModelLayout,
        n_gpu_layers: i32,
        gpu_free: &[u64],
        matched: impl Fn(&str) -> Option<Slot>,
    ) -> Self {
        let layers = layer_slots(layout.n_layer, n_gpu_layers, gpu_free);
        let output_slot = layers.last().copied().unwrap_or(Slot::Host);
        let layer_slot = |il: u32| layers.get(il as usize).copied().unwrap_or(Slot::Host);
        let mut slots = Vec::with_capacity(layout.tensors.len());
        let mut fixed = Vec::with_capacity(layout.tensors.len());
        for t in &layout.tensors {
            let by_caller = matched(&t.name);
            fixed.push(by_caller.is_some());
            slots.push(by_caller.unwrap_or_else(|| match t.layer {
                Some(il) => layer_slot(il),
                None if is_input_tensor(&t.name) => Slot::Host,
                None => output_slot,
            }));
        }
        // Tied embeddings: without output.weight the loader also creates
        // token_embd as the output layer's tensor, a second copy when that
        // lands elsewhere (the input layer is always on the host).
        let has_output = layout.tensors.iter().any(|t| t.name == "output.weight");
        let tied_output_copy = if has_output {
            None
        } else {
            layout
                .tensors
                .iter()
                .position(|t| t.name == "token_embd.weight")
                .and_then(|i| {
                    let slot = matched(&layout.tensors[i].name).unwrap_or(output_slot);
                    (slot != slots[i]).then_some((i, slot))
                })
        };
        Self {
            slots,
            fixed,
            output_slot,
            tied_output_copy,
            n_gpus: gpu_free.len(),
            n_gpu_layers,
            gpu_free: gpu_free.to_vec(),
        }
    }

    /// Whether `n_gpu_layers` is llama.cpp's default (-1, every layer): the
    /// caller left it unset, as llama.cpp's own fit decides it.
    pub fn n_gpu_layers_unset(&self) -> bool {
        self.n_gpu_layers == crate::LlamaModelParams::default().n_gpu_layers()
    }

    /// The same placement with `n_gpu_layers` instead: the first layers go
    /// to the CPU whole, the caller's overrides still win.
    pub fn with_n_gpu_layers(&self, layout: &ModelLayout, n_gpu_layers: u32) -> Self {
        let caller: std::collections::HashMap<&str, Slot> = layout
            .tensors
            .iter()
            .zip(self.fixed.iter().zip(&self.slots))
            .filter(|(_, (fixed, _))| **fixed)
            .map(|(t, (_, slot))| (t.name.as_str(), *slot))
            .collect();
        let n = i32::try_from(n_gpu_layers).unwrap_or(i32::MAX);
        Self::from_rules(layout, n, &self.gpu_free, |name| caller.get(name).copied())
    }

    /// Per GPU, the expert matrices the planner may move, in the order they
    /// leave: layers in `order`, down / gate / up within a layer. A bias goes
    /// with its matrix when `biases_follow`.
    pub fn units(
        &self,
        layout: &ModelLayout,
        biases_follow: bool,
        order: ExpertOrder,
    ) -> Vec<Vec<Unit>> {
        let mut units: Vec<Vec<Unit>> = vec![Vec::new(); self.n_gpus];
        let mut keyed: std::collections::BTreeMap<(usize, u32, ExpertPart), Unit> =
            std::collections::BTreeMap::new();
        for (i, t) in layout.tensors.iter().enumerate() {
            let (Some(layer), Some(part), Slot::Gpu(gpu)) = (t.layer, t.expert, self.slots[i])
            else {
                continue;
            };
            if self.fixed[i] || (t.is_bias && !biases_follow) {
                continue;
            }
            let unit = keyed.entry((gpu, layer, part)).or_insert_with(|| Unit {
                layer,
                part,
                tensors: Vec::new(),
                bytes: 0,
            });
            unit.tensors.push(i);
            unit.bytes += t.n_bytes;
        }
        for ((gpu, _, _), unit) in keyed {
            units[gpu].push(unit);
        }
        for list in &mut units {
            list.sort_by_key(|u| (order.rank(u.layer), u.part));
        }
        units
    }
}
