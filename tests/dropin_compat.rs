//! llama-cpp-2's paths and signatures (`llama_cpp::compat`) on a real model: what upstream's
//! examples rely on behaves like this crate's own API, and the inputs that crash or panic in
//! llama-cpp-2 are errors. `make test-dropin` builds upstream's examples themselves.

use llama_cpp::context::params::LlamaContextParams;
use llama_cpp::llama_backend::LlamaBackend;
use llama_cpp::llama_batch::LlamaBatch;
use llama_cpp::model::params::kv_overrides::ParamOverrideValue;
use llama_cpp::model::params::LlamaModelParams;
use llama_cpp::model::{AddBos, LlamaModel, Special};
use llama_cpp::sampling::LlamaSampler;
use llama_cpp::token::LlamaToken;
use llama_cpp::{BufferType, LlamaError, LlamaSampler as OwnSampler};
use llama_cpp_rs_moe::measure::generate;
use llama_cpp_rs_moe::models::{dense_test_model, require};
use std::ffi::CString;
use std::num::NonZeroU32;
use std::pin::pin;

fn load(params: &LlamaModelParams) -> LlamaModel {
    let backend = LlamaBackend::init().unwrap();
    LlamaModel::load_from_file(&backend, require(dense_test_model()), params).unwrap()
}

fn small_context() -> LlamaContextParams {
    LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(256))
        .with_n_threads(2)
}

/// upstream's examples/usage.rs loop, through the compat types, for `n` tokens.
fn usage_loop(model: &LlamaModel, prompt: &str, n: i32) -> (Vec<LlamaToken>, String) {
    let backend = LlamaBackend::init().unwrap();
    let mut ctx = model.new_context(&backend, small_context()).unwrap();
    let tokens_list = model.str_to_token(prompt, AddBos::Always).unwrap();
    let mut batch = LlamaBatch::new(512, 1);
    let last_index = tokens_list.len() as i32 - 1;
    for (i, token) in (0_i32..).zip(tokens_list) {
        batch.add(token, i, &[0], i == last_index).unwrap();
    }
    ctx.decode(&mut batch).unwrap();
    let mut n_cur = batch.n_tokens();
    let n_len = n_cur + n;
    let mut decoder = encoding_rs::UTF_8.new_decoder();
    let mut sampler = LlamaSampler::greedy();
    let (mut generated, mut text) = (Vec::new(), String::new());
    while n_cur < n_len {
        let token = sampler.sample(&ctx, batch.n_tokens() - 1);
        sampler.accept(token);
        if token == model.token_eos() || model.is_eog_token(token) {
            break;
        }
        generated.push(token);
        text.push_str(
            &model
                .token_to_piece(token, &mut decoder, true, None)
                .unwrap(),
        );
        batch.clear();
        batch.add(token, n_cur, &[0], true).unwrap();
        n_cur += 1;
        ctx.decode(&mut batch).unwrap();
    }
    (generated, text)
}

#[test]
fn usage_loop_generates_what_the_crate_api_generates() {
    let model = load(&LlamaModelParams::default());
    let prompt = "The capital of France is";
    let (tokens, text) = usage_loop(&model, prompt, 12);
    assert!(
        !tokens.is_empty() && !text.trim().is_empty(),
        "generated {tokens:?} {text:?}"
    );

    let backend = LlamaBackend::init().unwrap();
    let mut ctx = model.new_context(&backend, small_context()).unwrap();
    let own_prompt = model
        .vocab()
        .tokenize(prompt, AddBos::Always, true)
        .unwrap();
    let mut sampler = OwnSampler::greedy();
    let own = generate(&mut ctx, &mut sampler, &own_prompt, tokens.len(), |_| true).unwrap();
    assert_eq!(own.tokens, tokens, "greedy tokens of the two APIs");
    assert_eq!(
        model
            .vocab()
            .detokenize(&tokens, Special::Tokenize)
            .unwrap(),
        text
    );
}

#[test]
fn token_to_piece_joins_a_character_split_across_tokens() {
    let model = load(&LlamaModelParams::default().with_vocab_only(true));
    let crab = "🦀";
    let tokens = model.str_to_token(crab, AddBos::Never).unwrap();
    assert!(
        tokens.len() > 1,
        "byte-level BPE splits the emoji: {tokens:?}"
    );
    let mut decoder = encoding_rs::UTF_8.new_decoder();
    let pieces: Vec<String> = tokens
        .iter()
        .map(|&t| model.token_to_piece(t, &mut decoder, false, None).unwrap())
        .collect();
    assert_eq!(pieces.concat(), crab, "pieces {pieces:?}");
    assert!(
        pieces[0].is_empty(),
        "the first bytes wait in the decoder: {pieces:?}"
    );

    let n_vocab = model.n_vocab();
    for bad in [LlamaToken(-5), LlamaToken(n_vocab)] {
        let err = model
            .token_to_piece(bad, &mut decoder, false, None)
            .unwrap_err();
        assert!(matches!(err, LlamaError::TokenOutOfRange { .. }), "{err}");
    }
    assert_eq!(model.token_eos(), model.vocab().eos().unwrap());
    assert!(model.is_eog_token(model.token_eos()));
    assert!(!model.is_eog_token(LlamaToken(-5)));
}

#[test]
fn sampling_an_index_without_logits_is_a_panic_or_an_error_never_an_abort() {
    let model = load(&LlamaModelParams::default());
    let backend = LlamaBackend::init().unwrap();
    let mut ctx = model.new_context(&backend, small_context()).unwrap();
    let mut batch = LlamaBatch::new(8, 1);
    let prompt = model
        .str_to_token("Hello there, how are you?", AddBos::Always)
        .unwrap();
    assert!(prompt.len() > 1);
    batch.add_sequence(&prompt, 0, false).unwrap();
    ctx.decode(&mut batch).unwrap();
    let mut sampler = LlamaSampler::chain_simple([LlamaSampler::dist(1), LlamaSampler::greedy()]);
    assert!(matches!(
        sampler.try_sample(&ctx, 0),
        Err(LlamaError::NoLogits(0))
    ));
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sampler.sample(&ctx, 0)));
    let message = panic.unwrap_err().downcast::<String>().unwrap();
    assert!(message.contains("no logits for batch index 0"), "{message}");
    // The sampler and context are still usable after the caught panic.
    let token = sampler.sample(&ctx, batch.n_tokens() - 1);
    assert!((0..model.n_vocab()).contains(&token.0));
    assert!(ctx.timings().to_string().contains("prompt eval time"));
}

#[test]
fn pinned_kv_overrides_are_copied_and_appended() {
    let mut params = pin!(LlamaModelParams::default());
    let key = CString::new("llama.context_length").unwrap();
    params
        .as_mut()
        .append_kv_override(&key, ParamOverrideValue::Int(4096))
        .unwrap();
    // llama-cpp-2 kept `key`'s pointer and panicked on a second call.
    drop(key);
    let mut name = [0; 128];
    for (dst, src) in name.iter_mut().zip(b"renamed") {
        *dst = *src as std::os::raw::c_char;
    }
    params
        .as_mut()
        .append_kv_override(c"general.name", ParamOverrideValue::Str(name))
        .unwrap();
    assert_eq!(params.kv_overrides().len(), 2);

    let unterminated = ParamOverrideValue::Str([b'x' as std::os::raw::c_char; 128]);
    let err = params
        .as_mut()
        .append_kv_override(c"general.name", unterminated)
        .unwrap_err();
    assert!(err.to_string().contains("NUL terminator"), "{err}");
    let long_key = CString::new("k".repeat(128)).unwrap();
    assert!(params
        .as_mut()
        .append_kv_override(&long_key, ParamOverrideValue::Int(1))
        .is_err());
    assert_eq!(
        params.kv_overrides().len(),
        2,
        "a failed call leaves the params as they were"
    );

    let model = load(&params);
    assert_eq!(model.n_ctx_train(), 4096, "the override reached the loader");
}

#[test]
fn pinned_cpu_buft_overrides_place_like_with_tensor_override() {
    let patterns = [r"blk\.[0-3]\.ffn_.*", r"output_norm"];
    let mut pinned = pin!(LlamaModelParams::default());
    for pattern in patterns {
        let key = CString::new(pattern).unwrap();
        pinned.as_mut().add_cpu_buft_override(&key).unwrap();
        // Overwrite the caller's buffer: the params hold their own copy.
        let mut bytes = key.into_bytes();
        bytes.fill(b'x');
        drop(bytes);
    }
    pinned.as_mut().add_cpu_moe_override().unwrap();
    assert!(
        pinned.as_mut().add_cpu_buft_override(c"blk\\.(").is_err(),
        "bad regex"
    );

    let mut chained = LlamaModelParams::default();
    for pattern in patterns {
        chained = chained
            .with_tensor_override(pattern, BufferType::Cpu)
            .unwrap();
    }
    let chained = chained.with_cpu_moe_all();
    let listed = |p: &LlamaModelParams| {
        p.tensor_overrides()
            .iter()
            .map(|o| o.pattern().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(listed(&pinned), listed(&chained));

    let breakdown = |p: &LlamaModelParams| {
        let mut buffers: Vec<_> = load(p)
            .memory_breakdown()
            .unwrap()
            .into_iter()
            .map(|b| (b.buffer_type, b.device, b.model))
            .collect();
        buffers.sort();
        buffers
    };
    assert_eq!(breakdown(&pinned), breakdown(&chained));
}

#[test]
fn devices_name_their_backend() {
    let devices = llama_cpp::list_llama_ggml_backend_devices();
    let cpu = devices
        .iter()
        .find(|d| d.name == "CPU")
        .expect("a CPU device");
    assert_eq!(cpu.backend, "CPU");
    assert!(devices.iter().all(|d| !d.backend.is_empty()), "{devices:?}");
}
