//! Link directives for the llama.cpp and ggml libraries.

use crate::{cuda, env, fail, feature, source, version, NativeBuild};
use std::path::PathBuf;

/// `LLAMA_CPP_LIB_DIR`: an existing build (static or shared), no cmake.
pub fn prebuilt(lib_dir: PathBuf) -> NativeBuild {
    let has = |name: &str| lib_dir.join(name).is_file();
    let shared = if has("libllama.so") || has("libllama.dylib") || has("llama.dll") {
        true
    } else if has("libllama.a") || has("llama.lib") {
        false
    } else {
        fail(&format!(
            "LLAMA_CPP_LIB_DIR={} holds no libllama (.so, .dylib, .a).\n\
             Point it at the folder with libllama and libggml*, e.g. <llama.cpp build>/bin or <install prefix>/lib.",
            lib_dir.display()
        ));
    };
    if env("LLAMA_CPP_NO_VERSION_CHECK").is_some_and(|v| v != "0") {
        let dir = lib_dir.display();
        println!("cargo:warning=LLAMA_CPP_NO_VERSION_CHECK is set: {dir} is linked unchecked");
    } else {
        let info = version::read(&lib_dir);
        // Only a file that exists: cargo reruns the script for a missing one.
        if let Some(info) = &info {
            println!("cargo:rerun-if-changed={}", info.file.display());
        }
        let (commit, number) = (source::LLAMA_CPP_COMMIT, source::LLAMA_CPP_BUILD_NUMBER);
        if let Err(message) = version::check(info.as_ref(), &lib_dir, commit, number) {
            fail(&message);
        }
    }
    NativeBuild { lib_dir, shared }
}

pub fn emit(native: &NativeBuild) {
    println!(
        "cargo:rustc-link-search=native={}",
        native.lib_dir.display()
    );
    let kind = if native.shared { "dylib" } else { "static" };
    // Dependents before dependencies: static archives resolve left to right.
    for lib in ggml_libraries(native) {
        println!("cargo:rustc-link-lib={kind}={lib}");
    }
    if native.shared {
        // Lets examples and tests run without LD_LIBRARY_PATH. Only this
        // crate's own artifacts see rustc-link-arg; dependents get the same
        // path through DEP_LLAMA_LIB_DIR (the workspace root build.rs uses it).
        println!(
            "cargo:rustc-link-arg=-Wl,-rpath,{}",
            native.lib_dir.display()
        );
    } else {
        link_system_libraries();
    }
}

fn ggml_libraries(native: &NativeBuild) -> Vec<&'static str> {
    let mut libs = vec!["llama"];
    let has = |name: &str| {
        ["a", "so", "dylib", "lib"].iter().any(|ext| {
            let prefix = if *ext == "lib" { "" } else { "lib" };
            native
                .lib_dir
                .join(format!("{prefix}{name}.{ext}"))
                .is_file()
        })
    };
    // A prebuilt folder may hold backends we did not ask for; link what is there.
    for (backend, wanted) in [
        ("ggml-cuda", feature("cuda")),
        ("ggml-rpc", feature("rpc")),
        ("ggml-blas", false),
    ] {
        if wanted || has(backend) {
            libs.push(backend);
        }
    }
    libs.extend(["ggml-cpu", "ggml", "ggml-base"]);
    libs
}

fn link_system_libraries() {
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let cxx = match target_os.as_str() {
        "macos" | "ios" | "freebsd" => "c++",
        "windows" => "",
        _ => "stdc++",
    };
    if !cxx.is_empty() {
        println!("cargo:rustc-link-lib=dylib={cxx}");
    }
    if target_os == "macos" {
        for framework in ["Accelerate", "Foundation", "Metal", "MetalKit"] {
            println!("cargo:rustc-link-lib=framework={framework}");
        }
    }
    if feature("openmp") {
        let openmp = if target_os == "macos" { "omp" } else { "gomp" };
        println!("cargo:rustc-link-lib=dylib={openmp}");
    }
    if feature("cuda") {
        for dir in cuda::library_dirs() {
            println!("cargo:rustc-link-search=native={}", dir.display());
        }
        for lib in ["cudart", "cublas", "cublasLt", "cuda"] {
            println!("cargo:rustc-link-lib=dylib={lib}");
        }
    }
}
