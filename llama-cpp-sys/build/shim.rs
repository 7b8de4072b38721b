//! The C++ shim (`shim/`) gives Rust what llama.h lacks: `std::regex`
//! validation with the model loader's exact semantics, and the loader's own
//! memory accounting. It includes llama.cpp's internal headers, so it is
//! compiled with `cc` against the same tree as the libraries it links with.

use crate::source::LlamaSource;

/// `shared`: libllama is a shared library (its symbols are then imported).
pub fn compile(source: &LlamaSource, shared: bool) {
    println!("cargo:rerun-if-changed=shim");
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .std("c++17")
        .file("shim/llama_rs_shim.cpp")
        .include(source.path("include"))
        .include(source.path("ggml/include"))
        .include(source.path("src"))
        .warnings(false);
    if shared {
        build.define("LLAMA_SHARED", None);
    }
    build.compile("llama_rs_shim");
}
