//! Bad input never crashes the process: each case is a typed error.
//! Where llama.cpp itself would abort (GGML_ASSERT) the wrapper checks the
//! condition before calling it.

use llama_cpp::gguf::{GgmlType, GgufFile, GgufValue, GgufWriter};
use llama_cpp::{
    AddBos, BufferType, CpuThreadPool, LlamaBackend, LlamaBatch, LlamaContextParams, LlamaError,
    LlamaModel, LlamaModelParams, LlamaSampler, LlamaToken, LoadMode, ParamOverrideValue, Special,
};
use llama_cpp_rs_moe::measure::generate;
use llama_cpp_rs_moe::models::{dense_test_model, load_dense, moe_test_model, require};
use llama_cpp_rs_moe::synth::{self, Preset, SynthOptions};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("llama-cpp-bad-input-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn load(path: &Path) -> Result<LlamaModel, LlamaError> {
    let backend = LlamaBackend::init().unwrap();
    LlamaModel::load_from_file(&backend, path, &LlamaModelParams::default())
}

/// A copy of the first `len` bytes of the dense test model.
fn truncated_copy(name: &str, len: u64) -> PathBuf {
    let bytes = std::fs::read(require(dense_test_model())).unwrap();
    let path = scratch(name);
    std::fs::write(&path, &bytes[..len as usize]).unwrap();
    path
}

#[test]
fn unloadable_files_are_typed_errors() {
    let header = GgufFile::open(require(dense_test_model())).unwrap();
    let kv_middle = 24 + 64; // past the 24-byte preamble, inside the KV pairs
    let tensor_data_middle = header.data_offset + 1000;
    let empty = scratch("empty.gguf");
    std::fs::write(&empty, b"").unwrap();
    let not_gguf = scratch("not.gguf");
    std::fs::write(
        &not_gguf,
        b"this is not a gguf file, just text\n".repeat(10),
    )
    .unwrap();

    /// What the case is, the file to load, and the error it must produce.
    type Case = (&'static str, PathBuf, fn(&LlamaError) -> bool);
    let cases: Vec<Case> = vec![
        ("nonexistent path", scratch("does-not-exist.gguf"), |e| {
            matches!(e, LlamaError::ModelFile { .. })
        }),
        ("a directory", std::env::temp_dir(), |e| {
            matches!(e, LlamaError::ModelFile { .. })
        }),
        ("an empty file", empty, |e| {
            matches!(e, LlamaError::ModelFile { .. })
        }),
        ("a non-GGUF file", not_gguf, |e| {
            matches!(e, LlamaError::Gguf(_))
        }),
        (
            "truncated in the header",
            truncated_copy("cut-header.gguf", 10),
            |e| matches!(e, LlamaError::Gguf(_)),
        ),
        (
            "truncated in the KV section",
            truncated_copy("cut-kv.gguf", kv_middle),
            |e| matches!(e, LlamaError::Gguf(_)),
        ),
        (
            "truncated in the tensor data",
            truncated_copy("cut-data.gguf", tensor_data_middle),
            |e| matches!(e, LlamaError::Gguf(_)),
        ),
        (
            "an unknown architecture",
            unknown_architecture_file(),
            |e| matches!(e, LlamaError::ModelLoad { .. }),
        ),
    ];
    for (what, path, expected) in cases {
        let err = load(&path).expect_err(what);
        assert!(expected(&err), "{what}: unexpected error {err:?}");
        assert!(!err.to_string().is_empty());
    }
}

/// A well-formed GGUF whose architecture llama.cpp does not know.
fn unknown_architecture_file() -> PathBuf {
    let path = scratch("unknown-arch.gguf");
    let mut writer = GgufWriter::new();
    writer.set(
        "general.architecture",
        GgufValue::String("no-such-arch".into()),
    );
    writer
        .add_tensor("token_embd.weight", &[32, 8], GgmlType::F32)
        .unwrap();
    let file = std::fs::File::create(&path).unwrap();
    writer
        .write(file, |_, info, out| {
            out.write_all(&vec![0u8; info.n_bytes() as usize])
        })
        .unwrap();
    path
}

#[test]
fn bad_parameters_are_errors_at_the_call() {
    let p = LlamaModelParams::default();
    assert!(matches!(
        p.clone().with_tensor_override("ffn_(up", BufferType::Cpu),
        Err(LlamaError::InvalidPattern { .. })
    ));
    assert!(matches!(
        p.clone().with_tensor_override("exps\0", BufferType::Cpu),
        Err(LlamaError::InteriorNul { .. })
    ));
    assert!(matches!(
        p.clone().with_tensor_override("exps", BufferType::Gpu(64)),
        Err(LlamaError::UnknownDevice { .. })
    ));
    assert!(matches!(
        p.clone()
            .with_tensor_override("exps", BufferType::Named("CUDA9".into())),
        Err(LlamaError::UnknownDevice { .. })
    ));
    assert!(matches!(
        p.clone().with_devices(&[4096]),
        Err(LlamaError::UnknownDevice { .. })
    ));
    assert!(matches!(
        p.clone()
            .with_kv_override(&"k".repeat(200), ParamOverrideValue::Int(1)),
        Err(LlamaError::InvalidParameter { .. })
    ));
    assert!(matches!(
        p.clone()
            .with_kv_override("a\0b", ParamOverrideValue::Int(1)),
        Err(LlamaError::InteriorNul { .. })
    ));
    // Every layer there can be, as one pattern: no overflow, no huge regex.
    let all = p.clone().with_n_cpu_moe(usize::MAX);
    assert_eq!(all.tensor_overrides().len(), 1);
    assert!(all.tensor_overrides()[0].pattern().len() < 64);
}

#[test]
fn n_cpu_moe_usize_max_loads_and_runs() {
    let backend = LlamaBackend::init().unwrap();
    let params = LlamaModelParams::default()
        .with_load_mode(LoadMode::Read)
        .with_n_cpu_moe(usize::MAX);
    let model = LlamaModel::load_from_file(&backend, require(moe_test_model()), &params).unwrap();
    assert!(model.n_layer() > 0);
}

#[test]
fn bad_generation_input_is_an_error() {
    let backend = LlamaBackend::init().unwrap();
    let model = load_dense(&backend, &LlamaModelParams::default());
    let vocab = model.vocab();
    let ctx_params = || {
        LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(32))
            .with_n_threads(2)
            .with_n_threads_batch(2)
    };

    for (what, params) in [
        ("n_batch 0", ctx_params().with_n_batch(0)),
        ("n_ubatch 0", ctx_params().with_n_ubatch(0)),
        ("threads 0", ctx_params().with_n_threads(0)),
        ("threads 513", ctx_params().with_n_threads(513)),
        (
            "batch threads 513, per-graph pool",
            ctx_params()
                .with_n_threads_batch(513)
                .with_cpu_thread_pool(CpuThreadPool::PerGraph),
        ),
    ] {
        assert!(
            matches!(
                model.new_context(&backend, params),
                Err(LlamaError::InvalidParameter { .. })
            ),
            "{what}"
        );
    }

    let mut ctx = model.new_context(&backend, ctx_params()).unwrap();

    // Empty prompt.
    assert!(matches!(
        ctx.decode(&mut LlamaBatch::new(8, 1)),
        Err(LlamaError::Batch(_))
    ));
    assert!(vocab.tokenize("", AddBos::Never, false).unwrap().is_empty());

    // Prompt longer than n_ctx (llama.cpp may round n_ctx up: use its value).
    let n_ctx = ctx.n_ctx() as usize;
    let long = vocab
        .tokenize(&"hello world ".repeat(n_ctx), AddBos::Always, false)
        .unwrap();
    assert!(long.len() > n_ctx + 8);
    let too_long = generate(
        &mut ctx,
        &mut LlamaSampler::greedy(),
        &long[..n_ctx + 8],
        1,
        |_| true,
    );
    assert!(
        matches!(too_long, Err(LlamaError::ContextFull { .. })),
        "{too_long:?}"
    );
    // ... and a batch larger than n_batch.
    let mut batch = LlamaBatch::new(long.len(), 1);
    batch
        .add_sequence(&long[..ctx.n_batch() as usize + 1], 0, false)
        .unwrap();
    assert!(matches!(ctx.decode(&mut batch), Err(LlamaError::Batch(_))));

    // Token ids outside the vocabulary.
    for bad in [
        LlamaToken(-1),
        LlamaToken(model.n_vocab()),
        LlamaToken(i32::MAX),
    ] {
        batch.clear();
        batch.add(bad, 0, &[0], true).unwrap();
        assert!(
            matches!(
                ctx.decode(&mut batch),
                Err(LlamaError::TokenOutOfRange { .. })
            ),
            "{bad:?}"
        );
        assert!(matches!(
            vocab.token_to_piece(bad, Special::Tokenize),
            Err(LlamaError::TokenOutOfRange { .. })
        ));
    }

    // Logits that were not requested, before and after a decode.
    assert!(matches!(
        ctx.get_logits_ith(0),
        Err(LlamaError::NoLogits(0))
    ));
    assert!(matches!(
        LlamaSampler::greedy().sample(&ctx, 0),
        Err(LlamaError::NoLogits(0))
    ));
    // A failed decode leaves the cache as it was: positions must go on from
    // there (llama.cpp rejects a restart at 0 with -1, an error, not an abort).
    batch.clear();
    batch.add_sequence(&long[..4], 0, false).unwrap();
    assert!(matches!(
        ctx.decode(&mut batch),
        Err(LlamaError::Decode { code: -1, .. })
    ));
    ctx.clear_kv_cache();
    ctx.decode(&mut batch).unwrap();
    assert!(ctx.get_logits_ith(3).is_ok());
    assert!(matches!(
        ctx.get_logits_ith(0),
        Err(LlamaError::NoLogits(0))
    ));
    assert!(matches!(
        ctx.get_logits_ith(99),
        Err(LlamaError::NoLogits(99))
    ));

    // n_predict 0 generates nothing.
    ctx.clear_kv_cache();
    let prompt = vocab.tokenize("Hi", AddBos::Always, false).unwrap();
    let none = generate(&mut ctx, &mut LlamaSampler::greedy(), &prompt, 0, |_| true).unwrap();
    assert!(none.tokens.is_empty());

    // Decoding after the context is full.
    ctx.clear_kv_cache();
    let mut sampler = LlamaSampler::greedy();
    let result = generate(&mut ctx, &mut sampler, &long[..n_ctx - 4], 100, |_| true);
    assert!(
        matches!(result, Err(LlamaError::ContextFull { .. })),
        "{result:?}"
    );

    // Batch misuse.
    let mut small = LlamaBatch::new(2, 1);
    small.add(LlamaToken(1), 0, &[0], false).unwrap();
    small.add(LlamaToken(1), 1, &[0], false).unwrap();
    assert!(
        matches!(
            small.add(LlamaToken(1), 2, &[0], false),
            Err(LlamaError::Batch(_))
        ),
        "full"
    );
    small.clear();
    assert!(
        matches!(
            small.add(LlamaToken(1), 0, &[1], false),
            Err(LlamaError::Batch(_))
        ),
        "seq id out of range"
    );
    assert!(
        matches!(
            small.add(LlamaToken(1), -1, &[0], false),
            Err(LlamaError::Batch(_))
        ),
        "negative position"
    );
}

#[test]
fn more_outputs_than_n_outputs_max_is_an_error_not_an_abort() {
    let backend = LlamaBackend::init().unwrap();
    let model = load_dense(&backend, &LlamaModelParams::default());
    let tokens = model
        .vocab()
        .tokenize("The capital of France is", AddBos::Always, false)
        .unwrap();
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(64))
        .with_n_threads(2)
        .with_n_threads_batch(2);
    let batch_with = |outputs: usize| {
        let mut batch = LlamaBatch::new(tokens.len(), 1);
        for (i, &token) in tokens.iter().enumerate() {
            batch
                .add(token, i as i32, &[0], i + outputs >= tokens.len())
                .unwrap();
        }
        batch
    };
    let mut limited = model
        .new_context(&backend, params.clone().with_n_outputs_max(1))
        .unwrap();
    // llama.cpp would GGML_ASSERT on two outputs here.
    assert!(matches!(
        limited.decode(&mut batch_with(2)),
        Err(LlamaError::Batch(_))
    ));
    // One output is fine and computes what an unlimited context computes.
    limited.decode(&mut batch_with(1)).unwrap();
    let mut unlimited = model.new_context(&backend, params).unwrap();
    unlimited.decode(&mut batch_with(2)).unwrap();
    assert_eq!(
        limited.get_logits_ith(-1).unwrap(),
        unlimited.get_logits_ith(-1).unwrap()
    );
}

#[test]
fn progress_callback_can_cancel_and_its_panics_do_not_cross_ffi() {
    let backend = LlamaBackend::init().unwrap();
    let path = require(dense_test_model());
    let cancelled = LlamaModelParams::default().with_progress_callback(|_| false);
    assert!(matches!(
        LlamaModel::load_from_file(&backend, &path, &cancelled),
        Err(LlamaError::ModelLoad { .. })
    ));

    let panicking = LlamaModelParams::default().with_progress_callback(|p| {
        if p > 0.0 {
            panic!("callback panic at {p}");
        }
        true
    });
    let caught = std::panic::catch_unwind(|| {
        LlamaModel::load_from_file(&backend, &path, &panicking).map(|_| ())
    });
    let payload = caught.expect_err("the callback's panic is re-raised in the caller");
    assert!(payload
        .downcast_ref::<String>()
        .is_some_and(|m| m.starts_with("callback panic")));
    // The process is fine and loads again.
    assert!(LlamaModel::load_from_file(&backend, &path, &LlamaModelParams::default()).is_ok());
}

#[test]
fn two_contexts_on_two_threads_share_one_model() {
    let backend = LlamaBackend::init().unwrap();
    let params = LlamaModelParams::default()
        .with_load_mode(LoadMode::Read)
        .with_cpu_moe_all();
    let model =
        Arc::new(LlamaModel::load_from_file(&backend, require(moe_test_model()), &params).unwrap());
    let run = |prompt: &'static str| {
        let model = Arc::clone(&model);
        let backend = backend.clone();
        std::thread::spawn(move || {
            let ctx_params = LlamaContextParams::default()
                .with_n_ctx(NonZeroU32::new(128))
                .with_n_threads(1)
                .with_n_threads_batch(1);
            let mut ctx = model.new_context(&backend, ctx_params).unwrap();
            let tokens = model
                .vocab()
                .tokenize(prompt, AddBos::Always, false)
                .unwrap();
            generate(&mut ctx, &mut LlamaSampler::greedy(), &tokens, 12, |_| true)
                .unwrap()
                .tokens
        })
    };
    let (a, b) = (run("The capital of France is"), run("def fibonacci(n):"));
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    // Same prompts again on this thread, one after the other: same tokens.
    let ctx_params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(128))
        .with_n_threads(1)
        .with_n_threads_batch(1);
    let mut ctx = model.new_context(&backend, ctx_params).unwrap();
    for (prompt, expected) in [("The capital of France is", a), ("def fibonacci(n):", b)] {
        ctx.clear_kv_cache();
        let tokens = model
            .vocab()
            .tokenize(prompt, AddBos::Always, false)
            .unwrap();
        let got = generate(&mut ctx, &mut LlamaSampler::greedy(), &tokens, 12, |_| true)
            .unwrap()
            .tokens;
        assert_eq!(got, expected, "{prompt:?}");
    }
}

fn small_ctx() -> LlamaContextParams {
    LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(64))
        .with_n_threads(2)
        .with_n_threads_batch(2)
}

fn dense_model(params: &LlamaModelParams) -> LlamaModel {
    let backend = LlamaBackend::init().unwrap();
    LlamaModel::load_from_file(&backend, require(dense_test_model()), params).unwrap()
}

#[test]
fn a_batch_as_large_as_i32_allows_is_usable_not_a_segfault() {
    let backend = LlamaBackend::init().unwrap();
    let model = dense_model(&LlamaModelParams::default());
    let prompt = model
        .vocab()
        .tokenize("The capital of France is", AddBos::Always, false)
        .unwrap();
    let mut ctx = model.new_context(&backend, small_ctx()).unwrap();
    let mut logits = Vec::new();
    // llama_batch_init computed `n + 1` in int and wrote through the NULL
    // that malloc returned; n_seq_max ids per token were allocated up front.
    let sizes = [
        (prompt.len(), 1),
        (i32::MAX as usize, 1),
        (usize::MAX, 1),
        (8, i32::MAX),
    ];
    for (n_tokens, n_seq_max) in sizes {
        let mut batch = LlamaBatch::new(n_tokens, n_seq_max);
        batch.add_sequence(&prompt, 0, false).unwrap();
        ctx.clear_kv_cache();
        ctx.decode(&mut batch).unwrap();
        logits.push(ctx.get_logits_ith(-1).unwrap().to_vec());
    }
    assert!(
        logits.windows(2).all(|w| w[0] == w[1]),
        "every batch size computes the same logits"
    );
}

#[test]
fn a_sampler_that_selects_nothing_is_an_error_not_an_abort() {
    let backend = LlamaBackend::init().unwrap();
    let model = dense_model(&LlamaModelParams::default());
    let prompt = model
        .vocab()
        .tokenize("The capital of France is", AddBos::Always, false)
        .unwrap();
    let mut ctx = model.new_context(&backend, small_ctx()).unwrap();
    let mut batch = LlamaBatch::new(prompt.len(), 1);
    batch.add_sequence(&prompt, 0, false).unwrap();
    ctx.decode(&mut batch).unwrap();
    for (what, mut sampler) in [
        ("temp", LlamaSampler::temp(0.8)),
        ("top_k", LlamaSampler::top_k(40)),
        ("top_p", LlamaSampler::top_p(0.9, 1)),
        ("min_p", LlamaSampler::min_p(0.05, 1)),
        ("penalties", LlamaSampler::penalties(64, 1.1, 0.0, 0.0)),
        ("chain without a selector", {
            LlamaSampler::chain_simple([LlamaSampler::top_k(40), LlamaSampler::temp(0.8)])
        }),
        ("empty chain", LlamaSampler::chain_simple([])),
    ] {
        assert!(
            matches!(sampler.sample(&ctx, -1), Err(LlamaError::NoTokenSelected)),
            "{what}"
        );
    }
    // Selecting samplers still work, and agree with the logits.
    let logits = ctx.get_logits_ith(-1).unwrap();
    let argmax = (0..logits.len())
        .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
        .unwrap();
    assert_eq!(
        LlamaSampler::greedy().sample(&ctx, -1).unwrap(),
        LlamaToken(argmax as i32)
    );
    let mut chain = LlamaSampler::chain_simple([LlamaSampler::top_k(1), LlamaSampler::dist(7)]);
    assert_eq!(chain.sample(&ctx, -1).unwrap(), LlamaToken(argmax as i32));
}

#[test]
fn negative_indices_count_tokens_of_the_batch() {
    let backend = LlamaBackend::init().unwrap();
    let model = dense_model(&LlamaModelParams::default());
    let tokens = model
        .vocab()
        .tokenize("The capital of France", AddBos::Always, false)
        .unwrap();
    assert!(tokens.len() >= 4);
    let tokens = &tokens[..4];
    let mut ctx = model.new_context(&backend, small_ctx()).unwrap();
    let decode = |ctx: &mut llama_cpp::LlamaContext<'_>, outputs: &[bool]| {
        let mut batch = LlamaBatch::new(outputs.len(), 1);
        for (i, (&token, &output)) in tokens.iter().zip(outputs).enumerate() {
            batch.add(token, i as i32, &[0], output).unwrap();
        }
        ctx.clear_kv_cache();
        ctx.decode(&mut batch).unwrap();
    };

    decode(&mut ctx, &[true, true, false, true]);
    let row = |i: i32| ctx.get_logits_ith(i).unwrap().to_vec();
    assert_ne!(row(0), row(1), "different tokens, different logits");
    // -3 is token 4 - 3 = 1 of the batch; llama.cpp alone reads it as output
    // 3 - 3 = 0, token 0's row.
    assert_eq!(row(-3), row(1));
    assert_eq!(row(-1), row(3));
    assert_eq!(row(-4), row(0));
    let no_logits = ctx.get_logits_ith(-2);
    assert!(
        matches!(no_logits, Err(LlamaError::NoLogits(-2))),
        "token 2 asked for no logits"
    );
    assert!(matches!(
        ctx.get_logits_ith(-5),
        Err(LlamaError::NoLogits(-5))
    ));
    let argmax = |logits: &[f32]| {
        (0..logits.len())
            .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
            .unwrap() as i32
    };
    assert_eq!(
        LlamaSampler::greedy().sample(&ctx, -3).unwrap(),
        LlamaToken(argmax(&row(1)))
    );
    assert!(matches!(
        LlamaSampler::greedy().sample(&ctx, -2),
        Err(LlamaError::NoLogits(-2))
    ));

    // One output, three tokens: -3 is token 0 (llama.cpp alone: output -2,
    // an abort in a debug build of it).
    decode(&mut ctx, &[true, false, false]);
    let first = ctx.get_logits_ith(0).unwrap().to_vec();
    assert_eq!(ctx.get_logits_ith(-3).unwrap(), first);
    assert!(matches!(
        ctx.get_logits_ith(-1),
        Err(LlamaError::NoLogits(-1))
    ));
}

#[test]
fn a_panicking_progress_callback_does_not_cancel_later_loads() {
    let backend = LlamaBackend::init().unwrap();
    let path = require(dense_test_model());
    let panicked = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let params = {
        let (panicked, calls) = (Arc::clone(&panicked), Arc::clone(&calls));
        LlamaModelParams::default().with_progress_callback(move |progress| {
            calls.fetch_add(1, Ordering::Relaxed);
            if progress > 0.0 && !panicked.swap(true, Ordering::Relaxed) {
                panic!("only the first load panics");
            }
            true
        })
    };
    let load = || LlamaModel::load_from_file(&backend, &path, &params).map(|_| ());
    let caught = std::panic::catch_unwind(load);
    let payload = caught.expect_err("the first load re-raises the callback's panic");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"only the first load panics")
    );

    // The same params, and a clone, load: the callback runs again (its lock
    // was poisoned by the panic) and no stale panic is re-raised.
    for params in [params.clone(), params] {
        let before = calls.load(Ordering::Relaxed);
        let reloaded = LlamaModel::load_from_file(&backend, &path, &params);
        reloaded.expect("a later load is not cancelled");
        assert!(
            calls.load(Ordering::Relaxed) > before,
            "the callback is called"
        );
    }
}

#[test]
fn a_non_causal_batch_longer_than_n_ubatch_is_an_error_not_an_abort() {
    let backend = LlamaBackend::init().unwrap();
    // What encoders (BERT and the like) are: attention without a causal
    // mask, here from the key llama.cpp reads for every architecture.
    let params = LlamaModelParams::default()
        .with_kv_override("llama.attention.causal", ParamOverrideValue::Bool(false))
        .unwrap();
    let model = dense_model(&params);
    let tokens = model
        .vocab()
        .tokenize(&"hello world ".repeat(8), AddBos::Always, false)
        .unwrap();
    assert!(tokens.len() > 8);
    let ctx_params = small_ctx().with_n_batch(64).with_n_ubatch(8);
    let mut ctx = model.new_context(&backend, ctx_params.clone()).unwrap();
    assert!(!ctx.causal_attn());
    let mut batch = LlamaBatch::new(tokens.len(), 1);
    batch.add_sequence(&tokens, 0, false).unwrap();
    assert!(matches!(ctx.decode(&mut batch), Err(LlamaError::Batch(_))));
    // A batch of n_ubatch tokens is fine.
    let mut batch = LlamaBatch::new(8, 1);
    batch.add_sequence(&tokens[..8], 0, false).unwrap();
    ctx.decode(&mut batch).unwrap();
    assert!(ctx.get_logits_ith(-1).is_ok());

    // The same batch on the causal model is split into ubatches.
    let causal = dense_model(&LlamaModelParams::default());
    let mut ctx = causal.new_context(&backend, ctx_params).unwrap();
    assert!(ctx.causal_attn());
    let mut batch = LlamaBatch::new(tokens.len(), 1);
    batch.add_sequence(&tokens, 0, false).unwrap();
    ctx.decode(&mut batch).unwrap();
}

/// A vocabulary-only GGUF with a SentencePiece ("llama") tokenizer that has
/// nothing but byte tokens and "▁": every byte is one token, the tokenizer
/// prefixes a space, and BOS and EOS are added. Hyper-parameters from the
/// synth generator.
fn byte_spm_vocab_file() -> PathBuf {
    let options = SynthOptions {
        layers: Some(1),
        vocab: Some(synth::min_vocab()),
    };
    let spec = synth::build(Preset::Qwen3_30bA3b, &options).unwrap();
    let mut writer = GgufWriter::new();
    for (key, value) in spec
        .kv
        .iter()
        .filter(|(key, _)| !key.starts_with("tokenizer."))
    {
        writer.set(key.clone(), value.clone());
    }
    let mut tokens: Vec<String> = vec!["<unk>".into(), "<s>".into(), "</s>".into()];
    tokens.extend((0..=255).map(|b| format!("<0x{b:02X}>")));
    tokens.push("\u{2581}".into());
    // unknown, control x2, byte x256, normal
    let types = [2, 3, 3]
        .into_iter()
        .chain([6; 256])
        .chain([1])
        .map(GgufValue::I32)
        .collect();
    let scores = tokens.iter().map(|_| GgufValue::F32(0.0)).collect();
    writer.set("tokenizer.ggml.model", GgufValue::String("llama".into()));
    let tokens = tokens.into_iter().map(GgufValue::String).collect();
    writer.set("tokenizer.ggml.tokens", GgufValue::Array(tokens));
    writer.set("tokenizer.ggml.scores", GgufValue::Array(scores));
    writer.set("tokenizer.ggml.token_type", GgufValue::Array(types));
    for (key, id) in [("bos", 1), ("eos", 2), ("unknown", 0)] {
        writer.set(format!("tokenizer.ggml.{key}_token_id"), GgufValue::U32(id));
    }
    writer.set("tokenizer.ggml.add_bos_token", GgufValue::Bool(true));
    writer.set("tokenizer.ggml.add_eos_token", GgufValue::Bool(true));
    let path = scratch("byte-spm-vocab.gguf");
    writer
        .write(std::fs::File::create(&path).unwrap(), |_, _, _| Ok(()))
        .unwrap();
    path
}

#[test]
fn tokenize_retries_when_the_tokens_outnumber_the_bytes() {
    let backend = LlamaBackend::init().unwrap();
    let params = LlamaModelParams::default().with_vocab_only(true);
    let model = LlamaModel::load_from_file(&backend, byte_spm_vocab_file(), &params).unwrap();
    let vocab = model.vocab();
    // BOS, "▁", the bytes, EOS: one more than the first guess of bytes + 2.
    for text in ["a", "ab c", "\u{e9}t\u{e9}", "\n\n"] {
        let tokens = vocab.tokenize(text, AddBos::Always, false).unwrap();
        assert_eq!(tokens.len(), text.len() + 3, "{text:?}: {tokens:?}");
        assert_eq!(
            (tokens[0], tokens[tokens.len() - 1]),
            (LlamaToken(1), LlamaToken(2))
        );
        let byte = |t: &LlamaToken| if t.0 == 259 { b' ' } else { (t.0 - 3) as u8 };
        let bytes: Vec<u8> = tokens[2..tokens.len() - 1].iter().map(byte).collect();
        assert_eq!(bytes, text.as_bytes());
    }
}

#[cfg(unix)]
#[test]
fn a_model_path_that_is_not_utf8_loads() {
    use std::os::unix::ffi::OsStrExt;
    let dir = scratch("");
    let path = dir.join(std::ffi::OsStr::from_bytes(b"model-\xff\xfe.gguf"));
    let _ = std::fs::remove_file(&path);
    std::os::unix::fs::symlink(require(dense_test_model()), &path).unwrap();
    assert!(path.to_str().is_none());
    let backend = LlamaBackend::init().unwrap();
    let params = LlamaModelParams::default().with_vocab_only(true);
    let model = LlamaModel::load_from_file(&backend, &path, &params).unwrap();
    assert_eq!(model.path(), path);
    assert_eq!(model.vocab().n_tokens(), 49152);
}

#[test]
fn kv_overrides_change_what_the_loader_reads() {
    // Full loads: a vocabulary-only load reads no hyper-parameters.
    let plain = dense_model(&LlamaModelParams::default());
    assert_ne!(plain.n_ctx_train(), 1234);
    let context_length = |value| {
        LlamaModelParams::default()
            .with_kv_override("llama.context_length", value)
            .unwrap()
    };
    assert_eq!(
        dense_model(&context_length(ParamOverrideValue::Int(1234))).n_ctx_train(),
        1234
    );
    // llama.cpp ignores (and logs) an override of the wrong type: the
    // file's value stays, and nothing aborts.
    let wrong = context_length(ParamOverrideValue::Str("long".into()));
    assert_eq!(dense_model(&wrong).n_ctx_train(), plain.n_ctx_train());
}

#[test]
fn an_empty_device_list_keeps_every_weight_in_host_memory() {
    let params = LlamaModelParams::default()
        .with_n_gpu_layers(999)
        .with_devices(&[])
        .unwrap();
    assert_eq!(params.devices(), Some(&[][..]));
    let model = dense_model(&params);
    let breakdown = model.memory_breakdown().unwrap();
    let total: u64 = breakdown.iter().map(|b| b.model).sum();
    assert!(total > 50 << 20, "the weights are somewhere: {breakdown:?}");
    for buffer in &breakdown {
        assert!(buffer.model == 0 || buffer.device == "CPU", "{buffer:?}");
    }
}
