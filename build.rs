//! Build script of the root package (examples and end-to-end tests).
//!
//! `llama-cpp-sys` publishes where it put llama.cpp through `DEP_LLAMA_*`
//! (its `links = "llama"` metadata). This script
//! - gives the examples and tests an rpath to the shared libraries when
//!   llama.cpp is linked dynamically (`dynamic-link`, or a shared
//!   `LLAMA_CPP_LIB_DIR`), so they run without LD_LIBRARY_PATH;
//! - compiles the C reference loop of the benchmark against the same llama.h;
//! - exposes the llama.cpp version to the examples.

fn dep(name: &str) -> Option<String> {
    let var = format!("DEP_LLAMA_{name}");
    println!("cargo:rerun-if-env-changed={var}");
    std::env::var(var).ok()
}

fn main() {
    let shared = dep("SHARED").as_deref() == Some("true");
    if let (true, Some(lib_dir)) = (shared, dep("LIB_DIR")) {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib_dir}");
    }
    let version = dep("VERSION").unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=LLAMA_CPP_VERSION={version}");
    compile_reference_loop();
}

/// benches/c/reference_loop.c: the benchmark's loop in plain C (issue: Rust
/// must add no overhead over the C API at equal settings).
fn compile_reference_loop() {
    println!("cargo:rerun-if-changed=benches/c/reference_loop.c");
    let Some(includes) = dep("INCLUDE") else {
        return;
    };
    let mut build = cc::Build::new();
    build.file("benches/c/reference_loop.c").opt_level(2);
    for dir in std::env::split_paths(&includes) {
        build.include(dir);
    }
    build.compile("llama_reference_loop");
}
