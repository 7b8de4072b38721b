//! What a file holds, without its data: KV pairs and tensor specs.

use std::collections::BTreeMap;
use std::io;

use llama_cpp::gguf::{GgufValue, GgufWriter};
use llama_cpp::offload::tensor_layer;

use super::{Dtype, Hparams, Preset, SynthError};

/// How a tensor's data is generated (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fill {
    /// Random valid values of the tensor's type.
    Random,
    /// Every element equal to this value (float types only).
    Const(f32),
}

/// One tensor of the file.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorSpec {
    /// GGUF tensor name, e.g. `blk.0.ffn_up_exps.weight`.
    pub name: String,
    /// Dimensions, `ne[0]` (the contiguous one) first, as in GGUF.
    pub dims: Vec<u64>,
    /// Storage type.
    pub dtype: Dtype,
    /// Data generator.
    pub fill: Fill,
}

impl TensorSpec {
    /// Number of elements.
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }

    /// Bytes of data (`ne[0]` is a multiple of the block size, checked by
    /// [`build`](super::build)).
    pub fn n_bytes(&self) -> u64 {
        self.n_elements() / self.dtype.block_elems() * self.dtype.block_bytes()
    }

    /// Whether this is one of the stacked expert tensors (`*_exps.weight`,
    /// and gpt-oss's `*_exps.bias`).
    pub fn is_expert(&self) -> bool {
        self.name.contains("_exps.")
    }

    /// The layer index for `blk.N.*` tensors.
    pub fn layer(&self) -> Option<u32> {
        tensor_layer(&self.name)
    }
}

/// Everything that goes into the file except the tensor data.
#[derive(Clone, Debug)]
pub struct ModelSpec {
    /// The preset it was built from.
    pub preset: Preset,
    /// The hyper-parameters after the options were applied.
    pub hparams: Hparams,
    /// KV pairs in file order.
    pub kv: Vec<(String, GgufValue)>,
    /// Tensors in file order.
    pub tensors: Vec<TensorSpec>,
}

impl ModelSpec {
    /// Sum of the tensors' data bytes (without alignment padding).
    pub fn tensor_bytes(&self) -> u64 {
        self.tensors.iter().map(TensorSpec::n_bytes).sum()
    }

    /// Bytes of the stacked expert tensors (weights and biases).
    pub fn expert_bytes(&self) -> u64 {
        self.tensors
            .iter()
            .filter(|t| t.is_expert())
            .map(TensorSpec::n_bytes)
            .sum()
    }

    /// Number of parameters.
    pub fn n_params(&self) -> u64 {
        self.tensors.iter().map(TensorSpec::n_elements).sum()
    }

    /// `(tensor count, bytes)` per type.
    pub fn bytes_by_type(&self) -> BTreeMap<Dtype, (usize, u64)> {
        let mut m = BTreeMap::new();
        for t in &self.tensors {
            let e = m.entry(t.dtype).or_insert((0usize, 0u64));
            e.0 += 1;
            e.1 += t.n_bytes();
        }
        m
    }

    /// A KV value by key.
    pub fn kv(&self, key: &str) -> Option<&GgufValue> {
        self.kv.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A tensor by name.
    pub fn tensor(&self, name: &str) -> Option<&TensorSpec> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// A `GgufWriter` holding the KV pairs and the tensor infos.
    pub fn gguf_writer(&self) -> Result<GgufWriter, SynthError> {
        let mut w = GgufWriter::new();
        for (k, v) in &self.kv {
            w.set(k.as_str(), v.clone());
        }
        for t in &self.tensors {
            w.add_tensor(t.name.as_str(), &t.dims, t.dtype.ggml_type())
                .map_err(|source| SynthError::Tensor {
                    tensor: t.name.clone(),
                    source,
                })?;
        }
        Ok(w)
    }

    /// The exact size of the file [`write_gguf`](super::write_gguf) writes (header, padding and
    /// data), computed by running the writer into `io::sink()` with zeros.
    pub fn file_size(&self) -> Result<u64, SynthError> {
        let w = self.gguf_writer()?;
        let zeros = vec![0u8; 1 << 20];
        let n = w.write(io::sink(), |_, info, out| {
            let mut left = info.n_bytes();
            while left > 0 {
                let k = left.min(zeros.len() as u64) as usize;
                out.write_all(&zeros[..k])?;
                left -= k as u64;
            }
            Ok(())
        })?;
        Ok(n)
    }
}
