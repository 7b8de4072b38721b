//! Build script of the root package (examples and end-to-end tests).
//!
//! `llama-cpp-sys` publishes where it put llama.cpp through `DEP_LLAMA_*`
//! (its `links = "llama"` metadata). With shared libraries (`dynamic-link`,
//! or a shared `LLAMA_CPP_LIB_DIR`) the examples and tests get an rpath to
//! that folder, so they run without LD_LIBRARY_PATH.

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
    // Shown by the examples next to the measurements they print.
    let version = dep("VERSION").unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=LLAMA_CPP_VERSION={version}");
}
