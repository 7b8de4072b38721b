//! [`OffloadPlan`]: where llama.cpp's loader will put each weight, predicted
//! from the GGUF header and the params before anything is loaded.

use super::buffer_type::BuftPtr;
use super::{is_input_tensor, tensor_layer, BufferType, TensorRegex};
use crate::devices::{gpu_device_indices, raw_device};
use crate::error::Result;
use crate::gguf::{GgmlType, GgufFile};
use crate::sys;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::ptr::NonNull;

/// One tensor of an [`OffloadPlan`].
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedTensor {
    /// GGUF tensor name.
    pub name: String,
    /// Layer for `blk.N.*` tensors.
    pub layer: Option<u32>,
    /// Element type.
    pub ggml_type: GgmlType,
    /// Size of the weights in bytes.
    pub n_bytes: u64,
    /// Index of the first override whose pattern matches, if any.
    pub matched_override: Option<usize>,
    /// Predicted buffer type name (`CPU`, `CUDA0`, ...).
    pub buffer_type: String,
    /// Predicted device name (`CPU` for host memory).
    pub device: String,
}

/// Where each weight will go, computed from the GGUF header and the params
/// alone: no weights are read and nothing is allocated.
///
/// Overridden tensors follow the first matching override (exactly as the
/// loader does). The rest follow llama.cpp's layer split: input tensors on
/// the CPU, layers `i >= n_layer + 1 - n_gpu_layers` and the output on the
/// GPU. The prediction is exact for one GPU or none; with several GPUs the
/// layer split is attributed to the main GPU.
#[derive(Debug, Clone, PartialEq)]
pub struct OffloadPlan {
    /// Every tensor in file order.
    pub tensors: Vec<PlannedTensor>,
    /// The overrides considered, in order: `pattern=buffer type`.
    pub overrides: Vec<String>,
}

impl OffloadPlan {
    /// Reads the GGUF header at `path` and plans it.
    pub fn from_file(path: impl AsRef<Path>, params: &crate::LlamaModelParams) -> Result<Self> {
        Self::from_gguf(&GgufFile::open(path)?, params)
    }

    /// Plans an already parsed GGUF header.
    pub fn from_gguf(file: &GgufFile, params: &crate::LlamaModelParams) -> Result<Self> {
        let overrides = params.tensor_overrides();
        let regexes = overrides
            .iter()
            .map(|o| TensorRegex::new(o.pattern()))
            .collect::<Result<Vec<_>>>()?;
        let default_gpu = default_gpu_buft(params);
        // llama.cpp reads block_count as a u32 and refuses other values; a
        // hostile header saturates here, so `n_layer + 1 - n_gpu_layers`
        // (at most 2^32 + 2^31) cannot overflow an i64.
        let n_layer = file
            .arch_value("block_count")
            .and_then(|v| v.as_u64())
            .unwrap_or(0);
        let n_layer = i64::from(u32::try_from(n_layer).unwrap_or(u32::MAX));
        let n_gpu_layers = i64::from(params.n_gpu_layers());
        let n_gpu_layers = if n_gpu_layers < 0 {
            n_layer + 1
        } else {
            n_gpu_layers
        };
        let i_gpu_start = (n_layer + 1 - n_gpu_layers).max(0);
        let cpu = BufferType::Cpu.resolve()?;

        // The loader's choice for one tensor name: first matching override,
        // else the layer split (input on the CPU, layers from i_gpu_start and
        // the output on the GPU).
        let place = |name: &str, layer: Option<u32>, as_output: bool| -> (Option<usize>, BuftPtr) {
            let matched = regexes.iter().position(|re| re.is_match(name));
            let buft = match (matched, default_gpu) {
                (Some(i), _) => overrides[i].buft,
                (None, None) => cpu,
                (None, Some(gpu)) => {
                    let on_gpu = match layer {
                        Some(il) => i64::from(il) >= i_gpu_start,
                        None if is_input_tensor(name) && !as_output => false,
                        None => n_layer >= i_gpu_start,
                    };
                    if on_gpu {
                        gpu
                    } else {
                        cpu
                    }
                }
            };
            (matched, buft)
        };
        let planned =
            |name: String,
             layer,
             ggml_type,
             n_bytes,
             (matched_override, buft): (Option<usize>, BuftPtr)| PlannedTensor {
                name,
                layer,
                ggml_type,
                n_bytes,
                matched_override,
                buffer_type: buft.name(),
                device: buft.device_name(),
            };
        let mut tensors: Vec<PlannedTensor> = file
            .tensors
            .iter()
            .map(|t| {
                let layer = tensor_layer(&t.name);
                planned(
                    t.name.clone(),
                    layer,
                    t.ggml_type,
                    t.n_bytes(),
                    place(&t.name, layer, false),
                )
            })
            .collect();
        // Tied embeddings: without output.weight the loader uses token_embd
        // as the output too, and allocates a second copy when the output
        // layer's buffer type differs (e.g. token_embd in host memory, output
        // on the GPU).
        if file.tensor("output.weight").is_none() {
            if let Some(embd) = file.tensor("token_embd.weight") {
                let input = place(&embd.name, None, false).1;
                let output = place(&embd.name, None, true);
                if output.1 != input {
                    tensors.push(planned(
                        format!("{} (tied output copy)", embd.name),
                        None,
                        embd.ggml_type,
                        embd.n_bytes(),
                        output,
                    ));
                }
            }
        }
        Ok(Self {
            tensors,
            overrides: overrides.iter().map(|o| format!("{o:?}")).collect(),
        })
    }

    /// Bytes of weights per predicted buffer type.
    pub fn bytes_by_buffer_type(&self) -> BTreeMap<String, u64> {
        sum_by(&self.tensors, |t| t.buffer_type.clone())
    }

    /// Bytes of weights per predicted device (`CPU`, `CUDA0`, ...).
    pub fn bytes_by_device(&self) -> BTreeMap<String, u64> {
        sum_by(&self.tensors, |t| t.device.clone())
    }

    /// Total bytes of the tensors that match any override.
    pub fn overridden_bytes(&self) -> u64 {
        // Saturating: tensors of a header read without its data may overlap
        // and add up past u64::MAX.
        self.tensors
            .iter()
            .filter(|t| t.matched_override.is_some())
            .fold(0u64, |sum, t| sum.saturating_add(t.n_bytes))
    }
}

fn sum_by(
    tensors: &[PlannedTensor],
    key: impl Fn(&PlannedTensor) -> String,
) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for tensor in tensors {
        let sum = out.entry(key(tensor)).or_insert(0u64);
        *sum = sum.saturating_add(tensor.n_bytes);
    }
    out
}

/// The GPU buffer type the layer split would use, if the params allow one.
fn default_gpu_buft(params: &crate::LlamaModelParams) -> Option<BuftPtr> {
    if params.n_gpu_layers() == 0 {
        return None;
    }
    let gpus = gpu_device_indices();
    let chosen = match params.devices() {
        Some(selected) => selected.iter().copied().find(|i| gpus.contains(i)),
        None => gpus.get(params.main_gpu_index()).or(gpus.first()).copied(),
    }?;
    // SAFETY: `chosen` is a registry index from gpu_device_indices().
    let buft = unsafe { sys::ggml_backend_dev_buffer_type(raw_device(chosen)?) };
    NonNull::new(buft).map(BuftPtr)
}

impl fmt::Display for OffloadPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "overrides: {}",
            if self.overrides.is_empty() {
                "none".to_owned()
            } else {
                self.overrides.join(", ")
            }
        )?;
        for (buft, bytes) in self.bytes_by_buffer_type() {
            let n = self
                .tensors
                .iter()
                .filter(|t| t.buffer_type == buft)
                .count();
            writeln!(
                f,
                "  {buft:<12} {:>10.2} MiB in {n} tensors",
                bytes as f64 / (1024.0 * 1024.0)
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small GGUF: llama architecture, `block_count` as given, a few
    /// tensors of every kind the plan treats differently.
    fn header_bytes(block_count: crate::gguf::GgufValue) -> Vec<u8> {
        use crate::gguf::{GgufValue, GgufWriter};
        let mut writer = GgufWriter::new();
        writer.set("general.architecture", GgufValue::String("llama".into()));
        writer.set("llama.block_count", block_count);
        let input_layers_output = ["token_embd.weight", "blk.0.attn_q.weight"]
            .into_iter()
            .chain(["blk.1.ffn_up_exps.weight", "output_norm.weight"]);
        for name in input_layers_output {
            writer.add_tensor(name, &[32, 4], GgmlType::F32).unwrap();
        }
        let mut bytes = Vec::new();
        let zeros = |_, info: &crate::gguf::GgufTensorInfo, out: &mut dyn std::io::Write| {
            out.write_all(&vec![0u8; info.n_bytes() as usize])
        };
        writer.write(&mut bytes, zeros).unwrap();
        bytes
    }

    fn param_sets() -> Vec<crate::LlamaModelParams> {
        let p = crate::LlamaModelParams::default;
        vec![
            p(),
            p().with_n_gpu_layers(999),
            p().with_n_gpu_layers(u32::MAX),
            p().with_cpu_moe_all().with_n_gpu_layers(0),
        ]
    }

    #[test]
    fn a_hostile_block_count_plans_without_overflow() {
        use crate::gguf::GgufValue;
        for block_count in [
            GgufValue::U64(i64::MAX as u64),
            GgufValue::U64(1 << 63),
            GgufValue::U64(u64::MAX),
            GgufValue::I64(i64::MAX),
            GgufValue::U32(u32::MAX),
            GgufValue::I64(-1),
        ] {
            let file = GgufFile::from_bytes(&header_bytes(block_count.clone())).unwrap();
            for params in param_sets() {
                let plan = OffloadPlan::from_gguf(&file, &params).unwrap();
                assert_eq!(plan.tensors.len(), 4, "{block_count:?}");
                let total: u64 = plan.bytes_by_buffer_type().values().sum();
                assert_eq!(total, 4 * 32 * 4 * 4);
            }
        }
    }

    /// What the fuzz target does, over mutated headers, so that a debug
    /// build (overflow checks on) runs it in every `cargo test`. The fuzzer
    /// itself: `cd fuzz && cargo fuzz run --dev gguf_plan` (README).
    #[test]
    fn mutated_headers_plan_without_panicking() {
        use crate::gguf::GgufValue;
        let seeds = [
            header_bytes(GgufValue::U32(2)),
            header_bytes(GgufValue::U64(u64::MAX)),
        ];
        let params = param_sets();
        // SplitMix64: deterministic, no dependency.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let (mut parsed, mut planned) = (0, 0);
        for round in 0..4000 {
            let mut bytes = seeds[round % seeds.len()].clone();
            for _ in 0..1 + next() % 4 {
                if bytes.is_empty() {
                    break;
                }
                let at = (next() % bytes.len() as u64) as usize;
                match next() % 3 {
                    0 => bytes[at] = next() as u8,
                    // An extreme 8-byte value where a count or size may be.
                    1 => {
                        let extremes = [0u64, 1, u64::MAX, 1 << 63, i64::MAX as u64];
                        let value = extremes[(next() % 5) as usize];
                        let end = (at + 8).min(bytes.len());
                        bytes[at..end].copy_from_slice(&value.to_le_bytes()[..end - at]);
                    }
                    _ => bytes.truncate(at),
                }
            }
            if let Ok(file) = GgufFile::from_bytes(&bytes) {
                parsed += 1;
                for params in &params {
                    if let Ok(plan) = OffloadPlan::from_gguf(&file, params) {
                        planned += 1;
                        let by_type = plan.bytes_by_buffer_type();
                        let total = by_type.values().fold(0u64, |a, &b| a.saturating_add(b));
                        let direct = plan
                            .tensors
                            .iter()
                            .fold(0u64, |a, t| a.saturating_add(t.n_bytes));
                        assert_eq!(total, direct);
                        let _ = plan.to_string();
                    }
                }
            }
        }
        // The mutations must leave enough headers readable to test the plan.
        assert!(
            parsed > 400 && planned > 1600,
            "parsed {parsed}, planned {planned}"
        );
    }
}
