//! Rust declarations for the C API.
//!
//! `src/bindings.rs` is generated from the pinned headers and committed, so a
//! default build needs no libclang. The `bindgen` feature regenerates them at
//! build time (for another llama.cpp tree, or to check the committed copy:
//! the `committed_bindings_are_fresh` test compares the two).

use crate::source::LlamaSource;

pub fn generate(source: &LlamaSource) {
    // One translation unit through the include path, as a C user sees it;
    // passing the headers one by one redefines what they include.
    let wrapper = [
        "llama.h",
        "ggml.h",
        "ggml-backend.h",
        "ggml-cpu.h",
        "gguf.h",
    ]
    .map(|header| format!("#include \"{header}\"\n"))
    .concat();
    let bindings = bindgen::Builder::default()
        .header_contents("llama_cpp_sys_wrapper.h", &wrapper)
        .clang_arg(format!("-I{}", source.path("include").display()))
        .clang_arg(format!("-I{}", source.path("ggml/include").display()))
        .allowlist_function("llama_.*")
        .allowlist_function("ggml_backend_.*")
        .allowlist_function("gguf_.*")
        .allowlist_function("ggml_(type_name|type_size|blck_size|row_size|log_set|cpu_has_.*)")
        .allowlist_function("ggml_threadpool_.*")
        .allowlist_type("llama_.*")
        .allowlist_type("ggml_(type|log_level|backend_.*|threadpool_params|sched_priority)")
        .allowlist_var("LLAMA_.*")
        .allowlist_var("GGML_(MAX_DIMS|MAX_N_THREADS|DEFAULT_N_THREADS)")
        // FILE's layout is libc's business; the few functions taking one see
        // it as opaque (src/lib.rs), which keeps the bindings portable.
        .blocklist_type("FILE|_IO_.*")
        .prepend_enum_name(false)
        .derive_default(true)
        .derive_debug(true)
        .sort_semantically(true)
        .generate_comments(true)
        .layout_tests(true)
        .generate()
        .unwrap_or_else(|err| {
        crate::fail(&format!(
            "bindgen failed: {err}.\n\
             The `bindgen` feature needs libclang: `sudo apt-get install libclang-dev` (Debian/Ubuntu)\n\
             or set LIBCLANG_PATH to the folder holding libclang.so. Without the feature the committed bindings are used."
        ))
    });
    bindings
        .write_to_file(crate::out_dir().join("bindings.rs"))
        .expect("write bindings to OUT_DIR");
}
