//! Each synthetic MoE preset, cut to 2 layers, must load in llama.cpp and
//! generate tokens on the CPU.
//!
//! The files go to `std::env::temp_dir()` under a unique name and are deleted
//! afterwards (also when a test fails). The tests run one at a time (a shared
//! lock) to bound disk and memory use: the largest file (phimoe, 2 layers of
//! 16 Q8_0 experts of 4096 x 6400) is about 3 GB.
//!
//! Every preset keeps its real vocabulary except gpt-oss, whose 201088 x 2880
//! BF16 `token_embd` + `output` alone would be 2.3 GB: its test uses a
//! 16384-token vocabulary (`SynthOptions::vocab`, a test-only override; all
//! per-layer tensors keep their real shapes).

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use llama_cpp::gguf::GgufFile;
use llama_cpp::{
    AddBos, LlamaBackend, LlamaBatch, LlamaContextParams, LlamaModel, LlamaModelParams,
    LlamaSampler, LlamaToken, Special,
};
use llama_cpp_rs_moe::synth::{self, Preset, SynthOptions};

/// Serialises the tests: each writes and maps a file of up to ~3 GB.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Deletes the file when dropped (also when the test panics).
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn temp_path(preset: Preset) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    std::env::temp_dir().join(format!(
        "synth-moe-test-{preset}-{}-{nanos}.gguf",
        std::process::id()
    ))
}

fn run(preset: Preset, vocab: Option<u32>) {
    let _lock = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // llama.cpp's log goes to the `log` crate: RUST_LOG=llama.cpp=info shows it
    let _ = env_logger::builder().is_test(true).try_init();

    let spec = synth::build(
        preset,
        &SynthOptions {
            layers: Some(2),
            vocab,
        },
    )
    .expect("build spec");
    let file = TempFile(temp_path(preset));
    let path: &Path = &file.0;

    let t0 = Instant::now();
    let written = synth::write_file(&spec, path, 42, &mut |_| {}).expect("write gguf");
    let write_s = t0.elapsed().as_secs_f64();
    assert_eq!(written, std::fs::metadata(path).unwrap().len());
    assert_eq!(written, spec.file_size().unwrap());

    // our own reader sees what we meant to write
    let gguf = GgufFile::open(path).expect("read back the header");
    assert_eq!(gguf.architecture(), Some(preset.arch()));
    assert_eq!(gguf.tensors.len(), spec.tensors.len());
    for t in &spec.tensors {
        let info = gguf
            .tensor(&t.name)
            .unwrap_or_else(|| panic!("{} missing", t.name));
        assert_eq!(info.dims, t.dims, "{}", t.name);
        assert_eq!(info.ggml_type, t.dtype.ggml_type(), "{}", t.name);
    }

    // llama.cpp loads it ...
    let backend = LlamaBackend::init().expect("backend");
    let t1 = Instant::now();
    let model = LlamaModel::load_from_file(&backend, path, &LlamaModelParams::default())
        .unwrap_or_else(|e| panic!("{preset}: llama.cpp refused the file: {e}"));
    let load_s = t1.elapsed().as_secs_f64();
    let hp = &spec.hparams;
    assert_eq!(model.architecture().as_deref(), Some(preset.arch()));
    assert_eq!(model.n_layer(), 2);
    assert_eq!(model.n_vocab() as u32, hp.n_vocab);
    assert_eq!(model.n_embd() as u64, hp.n_embd);
    assert_eq!(u64::from(model.n_expert()), hp.n_expert);
    assert_eq!(u64::from(model.n_expert_used()), hp.n_expert_used);
    assert_eq!(model.n_params(), spec.n_params());

    // ... tokenizes a prompt ...
    let vocab = model.vocab();
    let prompt = "The quick brown fox jumps over the lazy dog, and then it rests.\n";
    let tokens = vocab
        .tokenize(prompt, AddBos::Always, false)
        .expect("tokenize");
    assert_eq!(tokens[0], LlamaToken(hp.n_vocab as i32 - 2), "BOS first");
    assert!(
        tokens.len() > 10 && tokens.len() < prompt.len() + 1,
        "{} tokens",
        tokens.len()
    );
    let text = vocab
        .detokenize(&tokens[1..], Special::Plaintext)
        .expect("detokenize");
    assert_eq!(text, prompt, "byte-level BPE round trip");
    assert_eq!(vocab.eos(), Some(LlamaToken(hp.n_vocab as i32 - 1)));
    assert!(vocab.is_eog(LlamaToken(hp.n_vocab as i32 - 1)));

    // ... and generates
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(256))
        .with_n_batch(256)
        .with_n_ubatch(256)
        .with_n_threads(2)
        .with_n_threads_batch(2);
    let mut ctx = model.new_context(&backend, params).expect("context");
    let mut batch = LlamaBatch::new(256, 1);
    batch.add_sequence(&tokens, 0, false).unwrap();
    let t2 = Instant::now();
    ctx.decode(&mut batch).expect("decode the prompt");
    let mut sampler = LlamaSampler::greedy();
    let mut generated = Vec::new();
    for pos in tokens.len() as i32..tokens.len() as i32 + 4 {
        let logits = ctx.get_logits_ith(-1).expect("logits");
        assert_eq!(logits.len() as u32, hp.n_vocab);
        assert!(
            logits.iter().all(|x| x.is_finite()),
            "{preset}: non-finite logits"
        );
        assert!(
            logits.iter().any(|&x| x != logits[0]),
            "{preset}: constant logits"
        );
        let tok = sampler.sample(&ctx, -1).expect("sample");
        assert!((0..hp.n_vocab as i32).contains(&tok.0));
        generated.push(tok);
        batch.clear();
        batch.add(tok, pos, &[0], true).unwrap();
        ctx.decode(&mut batch).expect("decode a generated token");
    }
    let gen_s = t2.elapsed().as_secs_f64();
    eprintln!(
        "{preset}: {} tensors, {:.2} GB written in {write_s:.1} s, loaded in {load_s:.1} s, \
         prompt of {} tokens + 4 generated in {gen_s:.1} s: {:?}",
        spec.tensors.len(),
        written as f64 / 1e9,
        tokens.len(),
        generated.iter().map(|t| t.0).collect::<Vec<_>>()
    );
}

#[test]
fn gpt_oss_20b_two_layers_generate() {
    run(Preset::GptOss20b, Some(16_384));
}

#[test]
fn phi_3_5_moe_two_layers_generate() {
    run(Preset::Phi35Moe, None);
}

#[test]
fn deepseek_moe_16b_two_layers_generate() {
    run(Preset::DeepseekMoe16b, None);
}

#[test]
fn qwen3_30b_a3b_two_layers_generate() {
    run(Preset::Qwen3_30bA3b, None);
}

/// Loads a full-size file written by `examples/synth_moe.rs` and decodes a
/// few tokens: `SYNTH_GGUF=/tmp/x.gguf cargo test --test synth_presets -- --ignored`.
/// The CPU repack buffers are turned off so the weights stay memory-mapped.
#[test]
#[ignore = "needs SYNTH_GGUF=<a full-size synthetic file>"]
fn full_size_file_from_env() {
    let path = std::env::var_os("SYNTH_GGUF")
        .map(PathBuf::from)
        .expect("SYNTH_GGUF=<a full-size synthetic file>");
    let _lock = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let _ = env_logger::builder().is_test(true).try_init();
    let gguf = GgufFile::open(&path).expect("read the header");
    let arch = gguf
        .architecture()
        .expect("general.architecture")
        .to_owned();
    let preset = Preset::ALL
        .into_iter()
        .find(|p| p.arch() == arch)
        .expect("a synth preset's arch");
    let full = synth::build(preset, &SynthOptions::default()).unwrap();
    assert_eq!(
        gguf.tensors.len(),
        full.tensors.len(),
        "not a full-size {preset} file"
    );

    let backend = LlamaBackend::init().expect("backend");
    let t0 = Instant::now();
    let params = LlamaModelParams::default().with_extra_buffer_types(false);
    let model = LlamaModel::load_from_file(&backend, &path, &params).expect("load");
    let load_s = t0.elapsed().as_secs_f64();
    assert_eq!(model.n_layer(), full.hparams.n_layer);
    assert_eq!(model.n_params(), full.n_params());
    let ctx_params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(128))
        .with_n_threads(2)
        .with_n_threads_batch(2);
    let mut ctx = model.new_context(&backend, ctx_params).expect("context");
    let tokens = model
        .vocab()
        .tokenize("Hello world", AddBos::Always, false)
        .unwrap();
    let mut batch = LlamaBatch::new(64, 1);
    batch.add_sequence(&tokens, 0, false).unwrap();
    let t1 = Instant::now();
    ctx.decode(&mut batch).expect("decode");
    let mut sampler = LlamaSampler::greedy();
    for pos in tokens.len() as i32..tokens.len() as i32 + 2 {
        assert!(ctx
            .get_logits_ith(-1)
            .unwrap()
            .iter()
            .all(|x| x.is_finite()));
        let tok = sampler.sample(&ctx, -1).unwrap();
        batch.clear();
        batch.add(tok, pos, &[0], true).unwrap();
        ctx.decode(&mut batch).expect("decode");
    }
    eprintln!(
        "{preset} full size ({} layers, {:.2} B params): loaded in {load_s:.1} s, {} + 2 tokens in {:.1} s ({})",
        model.n_layer(),
        model.n_params() as f64 / 1e9,
        tokens.len(),
        t1.elapsed().as_secs_f64(),
        model.desc()
    );
}
