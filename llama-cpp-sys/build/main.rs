//! Build script of `llama-cpp-sys`.
//!
//! Resolution order (escape hatches first, like libgit2-sys):
//! 1. `DOCS_RS` set: nothing native is built; the committed bindings are used.
//! 2. `LLAMA_CPP_LIB_DIR` set: link an existing llama.cpp/ggml build, no cmake,
//!    after checking that it is the pinned release (`version.rs`; escape:
//!    `LLAMA_CPP_NO_VERSION_CHECK=1`).
//! 3. Otherwise build the llama.cpp tree (the vendored submodule, or
//!    `LLAMA_CPP_SRC_DIR`) with cmake.
//!
//! In every native case the C++ shim (`shim/`) is compiled with `cc` and the
//! bindings come from the committed `src/bindings.rs`, or from bindgen with
//! the `bindgen` feature.

#[cfg(feature = "bindgen")]
mod bindings;
mod cmake_build;
mod cpu;
mod cuda;
mod link;
mod shim;
mod source;
mod version;

use std::path::PathBuf;

/// Reads an environment variable and tells cargo to rerun when it changes.
pub fn env(name: &str) -> Option<String> {
    println!("cargo:rerun-if-env-changed={name}");
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// Whether a cargo feature of this crate is enabled.
pub fn feature(name: &str) -> bool {
    let var = format!("CARGO_FEATURE_{}", name.to_uppercase().replace('-', "_"));
    std::env::var_os(var).is_some()
}

/// Stops the build with a message that says what to do.
pub fn fail(message: &str) -> ! {
    eprintln!(
        "\nllama-cpp-sys build error:\n  {}\n",
        message.replace('\n', "\n  ")
    );
    std::process::exit(1);
}

pub fn out_dir() -> PathBuf {
    PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
}

/// Where the llama.cpp libraries and headers ended up.
pub struct NativeBuild {
    pub lib_dir: PathBuf,
    pub shared: bool,
}

fn main() {
    println!("cargo:rerun-if-changed=build");
    if env("DOCS_RS").is_some() {
        // docs.rs has no cmake build time to spare and no GPU; the committed
        // bindings describe the API completely.
        return;
    }
    let lib_dir = env("LLAMA_CPP_LIB_DIR").map(PathBuf::from);
    let source = source::LlamaSource::locate(lib_dir.is_some());

    let native = match lib_dir {
        Some(dir) => link::prebuilt(dir),
        None => cmake_build::build(&source),
    };
    // The shim goes first: static archives resolve left to right, and the
    // shim calls into libllama.
    shim::compile(&source, native.shared);
    link::emit(&native);
    #[cfg(feature = "bindgen")]
    bindings::generate(&source);

    println!("cargo:include={}", source.include_dirs_joined());
    println!("cargo:root={}", source.root.display());
    println!("cargo:lib_dir={}", native.lib_dir.display());
    println!("cargo:shared={}", native.shared);
    println!("cargo:version={}", source::LLAMA_CPP_TAG);
}
