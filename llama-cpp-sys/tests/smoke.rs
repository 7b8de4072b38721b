//! Plain FFI smoke tests: the native build links and the basic C calls work.

use llama_cpp_moe_sys as sys;
use std::ffi::CString;
use std::path::PathBuf;

fn test_model() -> PathBuf {
    let path = std::env::var_os("LLAMA_TEST_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../models/SmolLM2-135M-Instruct.Q4_1.gguf")
        });
    assert!(
        path.is_file(),
        "{} is missing: run scripts/bootstrap.sh first",
        path.display()
    );
    path
}

#[test]
fn backend_reports_devices_and_limits() {
    // SAFETY: llama_backend_init/free take no arguments and may be called
    // more than once; the queries only read static data.
    unsafe {
        sys::llama_backend_init();
        assert_eq!(sys::llama_max_devices(), 16);
        assert!(sys::llama_max_tensor_buft_overrides() >= 1);
        assert!(
            sys::ggml_backend_dev_count() >= 1,
            "the CPU device is always registered"
        );
        assert!(!sys::ggml_backend_cpu_buffer_type().is_null());
        sys::llama_backend_free();
    }
}

#[test]
fn vocab_only_load_tokenizes_a_string() {
    let path = CString::new(test_model().to_str().unwrap()).unwrap();
    let text = "Hello world";
    // SAFETY: every pointer passed below is valid for the call: the model
    // path and text are live CStrings/&str, the token buffer has the length
    // we pass, and the model is freed exactly once after its last use.
    unsafe {
        sys::llama_backend_init();
        let mut params = sys::llama_model_default_params();
        params.vocab_only = true;
        let model = sys::llama_model_load_from_file(path.as_ptr(), params);
        assert!(!model.is_null(), "vocab-only load failed");
        let vocab = sys::llama_model_get_vocab(model);
        assert_eq!(
            sys::llama_vocab_n_tokens(vocab),
            49152,
            "SmolLM2's vocabulary size"
        );

        let mut tokens = vec![0 as sys::llama_token; 16];
        let n = sys::llama_tokenize(
            vocab,
            text.as_ptr().cast(),
            text.len() as i32,
            tokens.as_mut_ptr(),
            tokens.len() as i32,
            false,
            false,
        );
        assert!(n > 0 && n < 16, "tokenize returned {n}");

        // Detokenise and get the text back.
        let mut buf = vec![0u8; 64];
        let len = sys::llama_detokenize(
            vocab,
            tokens.as_ptr(),
            n,
            buf.as_mut_ptr().cast(),
            buf.len() as i32,
            false,
            false,
        );
        assert!(len > 0);
        assert_eq!(std::str::from_utf8(&buf[..len as usize]).unwrap(), text);
        sys::llama_model_free(model);
        sys::llama_backend_free();
    }
}

#[test]
fn shim_regex_has_std_regex_semantics() {
    let mut error = [0 as std::os::raw::c_char; 256];
    let good = CString::new(r"blk\.(0|1)\.ffn_(up|down)_exps").unwrap();
    let bad = CString::new("ffn_(up").unwrap();
    // SAFETY: the pattern and text are valid C strings, `error` is writable
    // for the length passed, and each compiled regex is freed once.
    unsafe {
        let regex = sys::llama_rs_regex_new(good.as_ptr(), error.as_mut_ptr(), error.len());
        assert!(!regex.is_null());
        let hit = CString::new("blk.1.ffn_up_exps.weight").unwrap();
        let miss = CString::new("blk.11.ffn_up_exps.weight").unwrap();
        assert_eq!(sys::llama_rs_regex_search(regex, hit.as_ptr()), 1);
        assert_eq!(sys::llama_rs_regex_search(regex, miss.as_ptr()), 0);
        sys::llama_rs_regex_free(regex);

        assert!(sys::llama_rs_regex_new(bad.as_ptr(), error.as_mut_ptr(), error.len()).is_null());
        assert_ne!(error[0], 0, "the reason is reported");
    }
}
