//! Building the llama.cpp tree with cmake.

use crate::source::LlamaSource;
use crate::{cpu, cuda, env, fail, feature, NativeBuild};
use std::process::Command;

/// A backend feature whose sources are missing would otherwise end in
/// cmake's "add_subdirectory given source ... which is not an existing
/// directory".
fn check_backend_sources(source: &LlamaSource) {
    for (feature_name, dir) in [("cuda", "ggml/src/ggml-cuda"), ("rpc", "ggml/src/ggml-rpc")] {
        if feature(feature_name) && !source.path(dir).is_dir() {
            fail(&format!(
                "the `{feature_name}` feature needs llama.cpp's {dir}, which {} lacks.\n\
                 The crates.io copy of llama.cpp that scripts/bootstrap.sh falls back to when GitHub is\n\
                 unreachable does not ship every backend. Check out the submodule\n\
                 (`git submodule update --init llama-cpp-sys/llama.cpp`) or set LLAMA_CPP_SRC_DIR to a\n\
                 complete llama.cpp {} tree.",
                source.root.display(),
                crate::source::LLAMA_CPP_TAG
            ));
        }
    }
}

pub fn build(source: &LlamaSource) -> NativeBuild {
    check_cmake_installed();
    check_backend_sources(source);
    let shared = feature("dynamic-link");
    let on_off = |on: bool| if on { "ON" } else { "OFF" };

    let mut config = cmake::Config::new(&source.root);
    config
        .profile("Release")
        .define("CMAKE_INSTALL_LIBDIR", "lib")
        .define("BUILD_SHARED_LIBS", on_off(shared))
        // Only the libraries: the crates.io copy of the tree has no tools/,
        // and building them would cost minutes for nothing.
        .define("LLAMA_BUILD_COMMON", "OFF")
        .define("LLAMA_BUILD_TESTS", "OFF")
        .define("LLAMA_BUILD_TOOLS", "OFF")
        .define("LLAMA_BUILD_EXAMPLES", "OFF")
        .define("LLAMA_BUILD_SERVER", "OFF")
        .define("LLAMA_BUILD_APP", "OFF")
        .define("LLAMA_BUILD_UI", "OFF")
        .define("LLAMA_OPENSSL", "OFF")
        .define("GGML_BUILD_TESTS", "OFF")
        .define("GGML_BUILD_EXAMPLES", "OFF")
        .define("GGML_CCACHE", "OFF")
        .define("GGML_OPENMP", on_off(feature("openmp")))
        .define("GGML_RPC", on_off(feature("rpc")))
        .define("GGML_CUDA", on_off(feature("cuda")))
        // cmake would otherwise pick up the debug profile of `cargo build`;
        // an unoptimised ggml is 10-50x slower and never what a user wants.
        .define("CMAKE_BUILD_TYPE", "Release");
    if shared {
        // The libraries find each other (libllama -> libggml -> backends)
        // through $ORIGIN; the executable finds them through the rpath that
        // link.rs emits.
        config.define("CMAKE_INSTALL_RPATH", "$ORIGIN");
    }
    if source.vendored {
        // cmake takes the commit and build number from git, and the vendored
        // tree need not be a checkout: then it records "unknown", or the
        // commit of the repository around it. LLAMA_CPP_LIB_DIR builds are
        // checked against these (build/version.rs).
        let commit = &crate::source::LLAMA_CPP_COMMIT[..7];
        config.define("LLAMA_BUILD_COMMIT", commit).define(
            "LLAMA_BUILD_NUMBER",
            crate::source::LLAMA_CPP_BUILD_NUMBER.to_string(),
        );
    }
    cpu::configure(&mut config);
    if feature("cuda") {
        cuda::configure(&mut config);
    }
    let install_dir = config.build();
    NativeBuild {
        lib_dir: install_dir.join("lib"),
        shared,
    }
}

fn check_cmake_installed() {
    let cmake = env("CMAKE").unwrap_or_else(|| "cmake".into());
    if Command::new(&cmake).arg("--version").output().is_err() {
        fail(&format!(
            "`{cmake}` was not found; llama.cpp is built with cmake (3.14 or newer).\n\
             Install it (Debian/Ubuntu: `sudo apt-get install cmake`; macOS: `brew install cmake`)\n\
             or set CMAKE to its path. To link an existing llama.cpp build instead, set LLAMA_CPP_LIB_DIR."
        ));
    }
}
