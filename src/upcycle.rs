//! Sparse upcycling: turn a dense llama GGUF into a llama Mixture-of-Experts
//! GGUF whose experts are all copies of the dense feed-forward network.
//!
//! For every layer `N` the dense `blk.N.ffn_{gate,up,down}.weight` become
//! `blk.N.ffn_{gate,up,down}_exps.weight` with a trailing expert dimension
//! holding `E` identical copies, and a router `blk.N.ffn_gate_inp.weight`
//! (f32, `[n_embd, E]`) is added. `llama.expert_count` and
//! `llama.expert_used_count` are set; everything else is copied unchanged and
//! in order.
//!
//! llama.cpp's llama MoE branch softmaxes the router logits, picks the top
//! `K` experts and renormalises their weights to sum to one (it hard-codes
//! `norm_w = true` and needs no `expert_weights_norm` key). With identical
//! experts the layer output is therefore the dense output whatever the router
//! holds, so the upcycled model generates the same text as the dense one (up
//! to floating-point rounding), which is what makes it a useful test model
//! for expert offloading.
//!
//! Tensor data is streamed from the input (seek and copy), never loaded whole,
//! and the output is written to a temporary file renamed into place on
//! success.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::Path;

use llama_cpp::gguf::{GgmlType, GgufError, GgufFile, GgufTensorInfo, GgufValue, GgufWriter};
use llama_cpp::offload::split_layer_tensor;
use rand::{Rng, SeedableRng};

use crate::partial_file::PartialFile;

/// Most experts llama.cpp accepts (`LLAMA_MAX_EXPERTS` in llama-hparams.h);
/// it aborts on load beyond this.
pub const MAX_EXPERTS: u32 = 512;

/// Half-width of the uniform distribution [`RouterInit::Random`] draws from:
/// small enough that the routing stays close to uniform, large enough that
/// top-k has no ties.
pub const RANDOM_ROUTER_SCALE: f32 = 0.01;

/// How the router weights (`blk.N.ffn_gate_inp.weight`) are initialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouterInit {
    /// All zero: every expert gets the same logit, and llama.cpp's top-k
    /// picks by index among the ties.
    Zero,
    /// Uniform in `[-RANDOM_ROUTER_SCALE, RANDOM_ROUTER_SCALE]` from a
    /// deterministic generator, so different tokens pick different experts
    /// (which exercises expert offloading more realistically).
    Random {
        /// Seed of the generator; the same seed gives the same file.
        seed: u64,
    },
}

/// Parameters of [`upcycle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpcycleOptions {
    /// Experts per layer (`E`, `llama.expert_count`), 1 to [`MAX_EXPERTS`].
    pub n_experts: u32,
    /// Experts used per token (`K`, `llama.expert_used_count`), 1 to `E`.
    pub n_experts_used: u32,
    /// Router initialisation.
    pub router: RouterInit,
}

impl Default for UpcycleOptions {
    fn default() -> Self {
        Self {
            n_experts: 4,
            n_experts_used: 1,
            router: RouterInit::Zero,
        }
    }
}

/// What [`upcycle`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpcycleReport {
    /// Layers converted.
    pub n_layers: u32,
    /// Embedding width (`n_embd`).
    pub n_embd: u64,
    /// Feed-forward width (`n_ff`) of the last layer converted.
    pub n_ff: u64,
    /// Experts per layer.
    pub n_experts: u32,
    /// Experts used per token.
    pub n_experts_used: u32,
    /// Tensors in the input.
    pub tensors_in: usize,
    /// Tensors in the output (input + one router per layer).
    pub tensors_out: usize,
    /// Size of the input file in bytes.
    pub input_bytes: u64,
    /// Size of the output file in bytes.
    pub output_bytes: u64,
}

/// Why [`upcycle`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpcycleError {
    /// The input is not a valid GGUF file, or the output could not be encoded.
    #[error("GGUF error: {0}")]
    Gguf(#[from] GgufError),
    /// Reading the input or writing the output failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The options are out of range (`E`, `K`).
    #[error("invalid options: {0}")]
    InvalidOptions(String),
    /// The input is not a llama-architecture model.
    #[error("input {}; only 'llama' models can be upcycled", describe_arch(.architecture))]
    NotLlama {
        /// `general.architecture` of the input, if it has one.
        architecture: Option<String>,
    },
    /// The input already has experts.
    #[error("input is already a Mixture-of-Experts model (llama.expert_count = {n_experts})")]
    AlreadyMoe {
        /// Its `llama.expert_count`.
        n_experts: u64,
    },
    /// A required metadata key is missing or has the wrong type.
    #[error("input lacks metadata key '{0}' (or it is not an integer)")]
    MissingKey(String),
    /// A required tensor is missing.
    #[error("input lacks tensor '{0}'")]
    MissingTensor(String),
    /// A tensor's shape is not what the model's metadata implies.
    #[error("tensor '{tensor}' has dims {dims:?}, expected {expected}")]
    UnexpectedShape {
        /// The tensor's name.
        tensor: String,
        /// Its dimensions.
        dims: Vec<u64>,
        /// What was expected, in words.
        expected: String,
    },
    /// The input uses something the llama MoE graph has no place for.
    #[error("unsupported input: {0}")]
    Unsupported(String),
}

fn describe_arch(architecture: &Option<String>) -> String {
    match architecture {
        Some(arch) => format!("architecture is '{arch}'"),
        None => "has no general.architecture".to_owned(),
    }
}

/// Where each output tensor's bytes come from.
#[derive(Debug, Clone, PartialEq)]
enum DataSource {
    /// A byte range of the input, copied once.
    Copy(Range<u64>),
    /// A byte range of the input, copied `times` times back to back (the
    /// expert dimension is the outermost, so each expert is one whole copy).
    Repeat { range: Range<u64>, times: u32 },
    /// A freshly initialised router of `n_values` f32s.
    Router { n_values: u64 },
}

/// The output described without its data: metadata and tensor layout in the
/// writer, and where each tensor's data comes from.
struct Plan {
    writer: GgufWriter,
    sources: Vec<DataSource>,
    n_layers: u32,
    n_embd: u64,
    n_ff: u64,
}

const FFN_KINDS: [&str; 3] = ["ffn_gate", "ffn_up", "ffn_down"];

/// Splits `blk.{N}.{kind}.weight` into `(N, kind)`.
fn parse_layer_tensor(name: &str) -> Option<(u32, &str)> {
    let (layer, rest) = split_layer_tensor(name)?;
    Some((layer, rest.strip_suffix(".weight")?))
}

fn check_options(options: &UpcycleOptions) -> Result<(), UpcycleError> {
    let (e, k) = (options.n_experts, options.n_experts_used);
    if !(1..=MAX_EXPERTS).contains(&e) {
        return Err(UpcycleError::InvalidOptions(format!(
            "expert count {e} must be between 1 and {MAX_EXPERTS} (llama.cpp's LLAMA_MAX_EXPERTS)"
        )));
    }
    if !(1..=e).contains(&k) {
        return Err(UpcycleError::InvalidOptions(format!(
            "experts used per token {k} must be between 1 and the expert count {e}"
        )));
    }
    Ok(())
}

fn required_u64(file: &GgufFile, key: &str) -> Result<u64, UpcycleError> {
    file.get(key)
        .and_then(GgufValue::as_u64)
        .ok_or_else(|| UpcycleError::MissingKey(key.to_owned()))
}

/// `dims` as a matrix `[rows_len, n_rows]`, allowing trailing dims of 1.
fn as_matrix(dims: &[u64]) -> Option<[u64; 2]> {
    match dims {
        [a, b, rest @ ..] if rest.iter().all(|&d| d == 1) => Some([*a, *b]),
        _ => None,
    }
}

fn plan(input: &GgufFile, options: &UpcycleOptions) -> Result<Plan, UpcycleError> {
    check_options(options)?;
    match input.architecture() {
        Some("llama") => {}
        other => {
            return Err(UpcycleError::NotLlama {
                architecture: other.map(str::to_owned),
            })
        }
    }
    if let Some(n) = input
        .get("llama.expert_count")
        .and_then(GgufValue::as_u64)
        .filter(|&n| n > 0)
    {
        return Err(UpcycleError::AlreadyMoe { n_experts: n });
    }
    let block_count = required_u64(input, "llama.block_count")?;
    let n_layers = u32::try_from(block_count)
        .map_err(|_| UpcycleError::MissingKey("llama.block_count".into()))?;
    let n_embd = required_u64(input, "llama.embedding_length")?;
    let e = u64::from(options.n_experts);

    // Per layer: the dense FFN tensors, and which tensors must not be there.
    let mut seen: HashMap<(u32, &str), &GgufTensorInfo> = HashMap::new();
    for t in &input.tensors {
        let Some((layer, kind)) = parse_layer_tensor(&t.name) else {
            continue;
        };
        if FFN_KINDS.contains(&kind) && layer < n_layers {
            seen.insert((layer, kind), t);
        }
        if kind.ends_with("_exps") || kind == "ffn_gate_inp" {
            return Err(UpcycleError::Unsupported(format!(
                "tensor '{}' is an expert tensor; the input is already a Mixture-of-Experts model",
                t.name
            )));
        }
    }
    for t in &input.tensors {
        // The llama MoE branch has no MLP biases; dropping them would change
        // the model, so refuse instead.
        if let Some(base) = t.name.strip_suffix(".bias") {
            if FFN_KINDS.iter().any(|k| base.ends_with(&format!(".{k}"))) {
                return Err(UpcycleError::Unsupported(format!(
                    "tensor '{}': llama.cpp's llama MoE layers have no feed-forward biases",
                    t.name
                )));
            }
        }
    }

    let mut n_ff = 0;
    for layer in 0..n_layers {
        let get = |kind: &str| {
            seen.get(&(layer, kind))
                .copied()
                .ok_or_else(|| UpcycleError::MissingTensor(format!("blk.{layer}.{kind}.weight")))
        };
        let (gate, up, down) = (get("ffn_gate")?, get("ffn_up")?, get("ffn_down")?);
        let shape_err = |t: &GgufTensorInfo, expected: String| UpcycleError::UnexpectedShape {
            tensor: t.name.clone(),
            dims: t.dims.clone(),
            expected,
        };
        let [g0, g1] = as_matrix(&gate.dims)
            .ok_or_else(|| shape_err(gate, "a matrix [n_embd, n_ff]".into()))?;
        if g0 != n_embd {
            return Err(shape_err(gate, format!("[n_embd = {n_embd}, n_ff]")));
        }
        n_ff = g1;
        if as_matrix(&up.dims) != Some([n_embd, n_ff]) {
            return Err(shape_err(up, format!("[{n_embd}, {n_ff}] like ffn_gate")));
        }
        if as_matrix(&down.dims) != Some([n_ff, n_embd]) {
            return Err(shape_err(
                down,
                format!("[{n_ff}, {n_embd}] (ffn_gate transposed)"),
            ));
        }
    }

    let mut writer = GgufWriter::from_file(input);
    writer.set("llama.expert_count", GgufValue::U32(options.n_experts));
    writer.set(
        "llama.expert_used_count",
        GgufValue::U32(options.n_experts_used),
    );

    let mut sources = Vec::with_capacity(input.tensors.len() + n_layers as usize);
    let mut router_done = vec![false; n_layers as usize];
    for t in &input.tensors {
        let range = input.tensor_data_range(t);
        let ffn = parse_layer_tensor(&t.name)
            .filter(|(layer, kind)| *layer < n_layers && FFN_KINDS.contains(kind));
        let Some((layer, kind)) = ffn else {
            writer.add_tensor(t.name.clone(), &t.dims, t.ggml_type)?;
            sources.push(DataSource::Copy(range));
            continue;
        };
        // The router goes just before the layer's first FFN tensor, keeping
        // each layer's tensors together.
        if !router_done[layer as usize] {
            router_done[layer as usize] = true;
            writer.add_tensor(
                format!("blk.{layer}.ffn_gate_inp.weight"),
                &[n_embd, e],
                GgmlType::F32,
            )?;
            sources.push(DataSource::Router {
                n_values: n_embd * e,
            });
        }
        let [d0, d1] = as_matrix(&t.dims).expect("shape checked above");
        writer.add_tensor(
            format!("blk.{layer}.{kind}_exps.weight"),
            &[d0, d1, e],
            t.ggml_type,
        )?;
        sources.push(DataSource::Repeat {
            range,
            times: options.n_experts,
        });
    }
    Ok(Plan {
        writer,
        sources,
        n_layers,
        n_embd,
        n_ff,
    })
}

/// Copies `range` of `input` to `out` in large chunks.
fn copy_range(
    input: &mut File,
    range: &Range<u64>,
    out: &mut dyn Write,
    buf: &mut [u8],
) -> io::Result<()> {
    input.seek(SeekFrom::Start(range.start))?;
    let mut left = range.end - range.start;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        input.read_exact(&mut buf[..n])?;
        out.write_all(&buf[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// Upcycles the dense llama model at `input` into an `E`-expert MoE model at
/// `output` (see the module documentation). The output is written next to
/// `output` under a `.partial` name and renamed into place once complete and
/// re-read successfully, so a failure never leaves a truncated model behind.
pub fn upcycle(
    input: &Path,
    output: &Path,
    options: &UpcycleOptions,
) -> Result<UpcycleReport, UpcycleError> {
    let header = GgufFile::open(input)?;
    let plan = plan(&header, options)?;
    let mut src = File::open(input)?;
    let (partial, file) = PartialFile::create(output)?;
    let out = BufWriter::with_capacity(1 << 20, file);
    let mut buf = vec![0u8; 1 << 20];
    let mut rng = match options.router {
        RouterInit::Zero => None,
        RouterInit::Random { seed } => Some(rand::rngs::StdRng::seed_from_u64(seed)),
    };
    let output_bytes = plan
        .writer
        .write(out, |index, _info, sink| match &plan.sources[index] {
            DataSource::Copy(range) => copy_range(&mut src, range, sink, &mut buf),
            DataSource::Repeat { range, times } => {
                (0..*times).try_for_each(|_| copy_range(&mut src, range, sink, &mut buf))
            }
            DataSource::Router { n_values } => {
                let mut bytes = Vec::with_capacity(*n_values as usize * 4);
                for _ in 0..*n_values {
                    let v = match &mut rng {
                        None => 0.0f32,
                        Some(rng) => rng.gen_range(-RANDOM_ROUTER_SCALE..=RANDOM_ROUTER_SCALE),
                    };
                    bytes.extend_from_slice(&v.to_le_bytes());
                }
                sink.write_all(&bytes)
            }
        })?;
    // write() flushed the BufWriter and dropped it. Re-parse to catch any inconsistency
    // before the file takes the final name.
    let check = GgufFile::open(partial.path())?;
    if check.tensors.len() != plan.writer.tensors().len() || check.file_len != Some(output_bytes) {
        return Err(UpcycleError::Io(io::Error::other(
            "output re-read does not match what was written",
        )));
    }
    partial.commit()?;

    Ok(UpcycleReport {
        n_layers: plan.n_layers,
        n_embd: plan.n_embd,
        n_ff: plan.n_ff,
        n_experts: options.n_experts,
        n_experts_used: options.n_experts_used,
        tensors_in: header.tensors.len(),
        tensors_out: plan.writer.tensors().len(),
        input_bytes: header.file_len.unwrap_or(0),
        output_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partial_file::partial_path;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A fresh path in the system temp dir, removed on drop.
    struct TempPath(PathBuf);

    impl TempPath {
        fn new(tag: &str) -> Self {
            static COUNTER: AtomicU32 = AtomicU32::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            Self(std::env::temp_dir().join(format!(
                "upcycle-test-{}-{n}-{tag}.gguf",
                std::process::id()
            )))
        }
    }

    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// Deterministic, tensor-specific bytes, so misplaced copies show.
    fn pattern(name: &str, n: u64) -> Vec<u8> {
        let seed = name
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
        (0..n)
            .map(|i| (seed.wrapping_add(i as u32).wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect()
    }

    const N_EMBD: u64 = 64;
    const N_FF: u64 = 96;
    const N_LAYERS: u32 = 2;

    /// A miniature dense llama model, with a mix of quantised and plain types
    /// and the ffn_down-first order real converters produce.
    fn dense_model(path: &Path, tweak: impl FnOnce(&mut GgufWriter)) {
        let mut w = GgufWriter::new();
        w.set("general.architecture", "llama".into());
        w.set("general.name", "tiny".into());
        w.set("llama.block_count", GgufValue::U32(N_LAYERS));
        w.set("llama.embedding_length", GgufValue::U32(N_EMBD as u32));
        w.set("llama.feed_forward_length", GgufValue::U32(N_FF as u32));
        w.set(
            "tokenizer.ggml.tokens",
            GgufValue::Array(vec!["a".into(), "b".into()]),
        );
        w.add_tensor("token_embd.weight", &[N_EMBD, 2], GgmlType::Q8_0)
            .unwrap();
        for l in 0..N_LAYERS {
            w.add_tensor(
                format!("blk.{l}.attn_norm.weight"),
                &[N_EMBD],
                GgmlType::F32,
            )
            .unwrap();
            w.add_tensor(
                format!("blk.{l}.ffn_down.weight"),
                &[N_FF, N_EMBD],
                GgmlType::Q4_1,
            )
            .unwrap();
            w.add_tensor(
                format!("blk.{l}.ffn_gate.weight"),
                &[N_EMBD, N_FF],
                GgmlType::Q4_1,
            )
            .unwrap();
            w.add_tensor(
                format!("blk.{l}.ffn_up.weight"),
                &[N_EMBD, N_FF],
                GgmlType::F16,
            )
            .unwrap();
            w.add_tensor(format!("blk.{l}.ffn_norm.weight"), &[N_EMBD], GgmlType::F32)
                .unwrap();
        }
        w.add_tensor("output_norm.weight", &[N_EMBD], GgmlType::F32)
            .unwrap();
        tweak(&mut w);
        let out = BufWriter::new(File::create(path).unwrap());
        w.write(out, |_, t, sink| {
            sink.write_all(&pattern(&t.name, t.n_bytes()))
        })
        .unwrap();
    }

    fn read_range(path: &Path, range: Range<u64>) -> Vec<u8> {
        let bytes = std::fs::read(path).unwrap();
        bytes[range.start as usize..range.end as usize].to_vec()
    }

    #[test]
    fn upcycled_model_has_moe_shapes_kv_and_copied_data() {
        let (input, output) = (TempPath::new("in"), TempPath::new("out"));
        dense_model(&input.0, |_| {});
        let options = UpcycleOptions {
            n_experts: 4,
            n_experts_used: 2,
            router: RouterInit::Zero,
        };
        let report = upcycle(&input.0, &output.0, &options).unwrap();

        let dense = GgufFile::open(&input.0).unwrap();
        let moe = GgufFile::open(&output.0).unwrap();
        assert_eq!(report.n_layers, N_LAYERS);
        assert_eq!((report.n_embd, report.n_ff), (N_EMBD, N_FF));
        assert_eq!(report.tensors_in, dense.tensors.len());
        assert_eq!(report.tensors_out, dense.tensors.len() + N_LAYERS as usize);
        assert_eq!(
            report.output_bytes,
            std::fs::metadata(&output.0).unwrap().len()
        );
        assert!(!partial_path(&output.0).unwrap().exists());

        // Metadata: everything copied in order, expert keys appended.
        assert_eq!(moe.kv[..dense.kv.len()], dense.kv[..]);
        assert_eq!(moe.kv.len(), dense.kv.len() + 2);
        assert_eq!(moe.get("llama.expert_count"), Some(&GgufValue::U32(4)));
        assert_eq!(moe.get("llama.expert_used_count"), Some(&GgufValue::U32(2)));

        // Tensor order: router before the layer's first FFN tensor.
        let names: Vec<&str> = moe.tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names[..8],
            [
                "token_embd.weight",
                "blk.0.attn_norm.weight",
                "blk.0.ffn_gate_inp.weight",
                "blk.0.ffn_down_exps.weight",
                "blk.0.ffn_gate_exps.weight",
                "blk.0.ffn_up_exps.weight",
                "blk.0.ffn_norm.weight",
                "blk.1.attn_norm.weight",
            ]
        );

        for l in 0..N_LAYERS {
            let router = moe.tensor(&format!("blk.{l}.ffn_gate_inp.weight")).unwrap();
            assert_eq!(
                (router.dims.as_slice(), router.ggml_type),
                (&[N_EMBD, 4][..], GgmlType::F32)
            );
            assert!(read_range(&output.0, moe.tensor_data_range(router))
                .iter()
                .all(|&b| b == 0));
            for (kind, dims) in [
                ("ffn_gate", [N_EMBD, N_FF]),
                ("ffn_up", [N_EMBD, N_FF]),
                ("ffn_down", [N_FF, N_EMBD]),
            ] {
                let d = dense.tensor(&format!("blk.{l}.{kind}.weight")).unwrap();
                let m = moe.tensor(&format!("blk.{l}.{kind}_exps.weight")).unwrap();
                assert_eq!(m.dims, [dims[0], dims[1], 4]);
                assert_eq!(m.ggml_type, d.ggml_type);
                assert_eq!(m.n_bytes(), 4 * d.n_bytes());
                let dense_bytes = read_range(&input.0, dense.tensor_data_range(d));
                let moe_bytes = read_range(&output.0, moe.tensor_data_range(m));
                for expert in moe_bytes.chunks(dense_bytes.len()) {
                    assert!(
                        expert == dense_bytes,
                        "blk.{l}.{kind}: expert differs from dense"
                    );
                }
            }
            assert!(moe.tensor(&format!("blk.{l}.ffn_gate.weight")).is_none());
        }
        // Every other tensor byte-identical.
        for d in dense.tensors.iter().filter(|t| {
            !t.name.contains(".ffn_gate.")
                && !t.name.contains(".ffn_up.")
                && !t.name.contains(".ffn_down.")
        }) {
            let m = moe.tensor(&d.name).unwrap();
            assert_eq!((&m.dims, m.ggml_type), (&d.dims, d.ggml_type));
            assert_eq!(
                read_range(&output.0, moe.tensor_data_range(m)),
                read_range(&input.0, dense.tensor_data_range(d))
            );
        }
    }

    #[test]
    fn random_router_is_small_deterministic_and_seeded() {
        let input = TempPath::new("in");
        dense_model(&input.0, |_| {});
        let router_bytes = |seed: u64| {
            let output = TempPath::new("out");
            let options = UpcycleOptions {
                n_experts: 3,
                n_experts_used: 3,
                router: RouterInit::Random { seed },
            };
            upcycle(&input.0, &output.0, &options).unwrap();
            let f = GgufFile::open(&output.0).unwrap();
            let r = f.tensor("blk.1.ffn_gate_inp.weight").unwrap();
            assert_eq!(r.dims, [N_EMBD, 3]);
            read_range(&output.0, f.tensor_data_range(r))
        };
        let a = router_bytes(7);
        assert_eq!(a, router_bytes(7));
        assert_ne!(a, router_bytes(8));
        let values: Vec<f32> = a
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert!(values.iter().all(|v| v.abs() <= RANDOM_ROUTER_SCALE));
        assert!(values.iter().any(|&v| v != 0.0));
    }

    #[test]
    fn one_expert_is_allowed() {
        let (input, output) = (TempPath::new("in"), TempPath::new("out"));
        dense_model(&input.0, |_| {});
        let options = UpcycleOptions {
            n_experts: 1,
            n_experts_used: 1,
            router: RouterInit::Zero,
        };
        upcycle(&input.0, &output.0, &options).unwrap();
        let f = GgufFile::open(&output.0).unwrap();
        assert_eq!(
            f.tensor("blk.0.ffn_up_exps.weight").unwrap().dims,
            [N_EMBD, N_FF, 1]
        );
    }

    #[test]
    fn rejects_bad_options_and_inputs() {
        let (input, output) = (TempPath::new("in"), TempPath::new("out"));
        dense_model(&input.0, |_| {});
        let run = |path: &Path, e: u32, k: u32| {
            upcycle(
                path,
                &output.0,
                &UpcycleOptions {
                    n_experts: e,
                    n_experts_used: k,
                    router: RouterInit::Zero,
                },
            )
        };
        assert!(matches!(
            run(&input.0, 0, 0),
            Err(UpcycleError::InvalidOptions(_))
        ));
        assert!(matches!(
            run(&input.0, 4, 0),
            Err(UpcycleError::InvalidOptions(_))
        ));
        assert!(matches!(
            run(&input.0, 4, 5),
            Err(UpcycleError::InvalidOptions(_))
        ));
        assert!(matches!(
            run(&input.0, MAX_EXPERTS + 1, 1),
            Err(UpcycleError::InvalidOptions(_))
        ));
        assert!(!output.0.exists() && !partial_path(&output.0).unwrap().exists());

        let other = TempPath::new("qwen");
        dense_model(&other.0, |w| {
            w.set("general.architecture", "qwen2".into());
        });
        let e = run(&other.0, 4, 1).unwrap_err();
        assert!(
            matches!(&e, UpcycleError::NotLlama { architecture: Some(a) } if a == "qwen2"),
            "{e}"
        );

        let moe = TempPath::new("moe");
        dense_model(&moe.0, |w| {
            w.set("llama.expert_count", GgufValue::U32(8));
        });
        assert!(matches!(
            run(&moe.0, 4, 1),
            Err(UpcycleError::AlreadyMoe { n_experts: 8 })
        ));

        let missing = TempPath::new("missing");
        dense_model(&missing.0, |w| {
            w.set("llama.block_count", GgufValue::U32(N_LAYERS + 1));
        });
        let e = run(&missing.0, 4, 1).unwrap_err();
        assert!(
            matches!(&e, UpcycleError::MissingTensor(n) if n == "blk.2.ffn_gate.weight"),
            "{e}"
        );

        let no_embd = TempPath::new("noembd");
        dense_model(&no_embd.0, |w| {
            w.remove("llama.embedding_length");
        });
        assert!(matches!(
            run(&no_embd.0, 4, 1),
            Err(UpcycleError::MissingKey(_))
        ));

        let wrong_embd = TempPath::new("wrongembd");
        dense_model(&wrong_embd.0, |w| {
            w.set("llama.embedding_length", GgufValue::U32(32));
        });
        assert!(matches!(
            run(&wrong_embd.0, 4, 1),
            Err(UpcycleError::UnexpectedShape { .. })
        ));

        let bias = TempPath::new("bias");
        dense_model(&bias.0, |w| {
            w.add_tensor("blk.0.ffn_up.bias", &[N_FF], GgmlType::F32)
                .unwrap();
        });
        assert!(matches!(
            run(&bias.0, 4, 1),
            Err(UpcycleError::Unsupported(_))
        ));

        let garbage = TempPath::new("garbage");
        std::fs::write(&garbage.0, b"not a model").unwrap();
        assert!(matches!(run(&garbage.0, 4, 1), Err(UpcycleError::Gguf(_))));
        assert!(!output.0.exists() && !partial_path(&output.0).unwrap().exists());
    }

    #[test]
    fn error_messages_name_the_problem() {
        let not_llama = |architecture: Option<&str>| {
            UpcycleError::NotLlama {
                architecture: architecture.map(str::to_owned),
            }
            .to_string()
        };
        assert_eq!(
            not_llama(Some("qwen2")),
            "input architecture is 'qwen2'; only 'llama' models can be upcycled"
        );
        assert_eq!(
            not_llama(None),
            "input has no general.architecture; only 'llama' models can be upcycled"
        );
        let gguf = UpcycleError::from(GgufError::DuplicateKey("k".into()));
        assert_eq!(gguf.to_string(), "GGUF error: duplicate metadata key 'k'");
        assert!(std::error::Error::source(&gguf).is_some());
        let io = UpcycleError::from(io::Error::other("disk full"));
        assert_eq!(io.to_string(), "I/O error: disk full");
        assert!(std::error::Error::source(&io).is_some());
        assert!(std::error::Error::source(&UpcycleError::MissingKey("k".into())).is_none());
    }

    #[test]
    fn layer_tensor_names() {
        assert_eq!(
            parse_layer_tensor("blk.12.ffn_up.weight"),
            Some((12, "ffn_up"))
        );
        assert_eq!(parse_layer_tensor("blk.x.ffn_up.weight"), None);
        assert_eq!(parse_layer_tensor("blk.3.weight"), None);
        assert_eq!(parse_layer_tensor("blk.3"), None);
        assert_eq!(parse_layer_tensor("blk.1.ffn_up.bias"), None);
        assert_eq!(parse_layer_tensor("output.weight"), None);
    }
}
