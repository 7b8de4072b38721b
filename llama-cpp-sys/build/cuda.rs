//! The `cuda` feature: finding the toolkit and choosing GPU architectures.

use crate::{env, fail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Compiled when `CMAKE_CUDA_ARCHITECTURES` is unset and no GPU is visible.
/// One PTX target keeps the build to minutes; newer GPUs JIT-compile it once
/// at first use (cached by the driver). Set the variable for native code.
const FALLBACK_ARCHITECTURES: &str = "80-virtual";

/// The toolkit root: CUDA_HOME, CUDA_PATH, CUDA_ROOT, CUDA_TOOLKIT_ROOT_DIR,
/// then the folder above the `nvcc` found on PATH.
pub fn toolkit_root() -> PathBuf {
    let from_env = [
        "CUDA_HOME",
        "CUDA_PATH",
        "CUDA_ROOT",
        "CUDA_TOOLKIT_ROOT_DIR",
    ]
    .into_iter()
    .find_map(env)
    .map(PathBuf::from);
    let root = from_env.or_else(nvcc_on_path_root).unwrap_or_else(|| {
        fail(
            "the `cuda` feature needs the CUDA toolkit, and nvcc was not found.\n\
             Install it (https://developer.nvidia.com/cuda-downloads, or `apt-get install nvidia-cuda-toolkit`)\n\
             and set CUDA_HOME (or CUDA_PATH) to its root, e.g. CUDA_HOME=/usr/local/cuda.",
        )
    });
    if !root.join("bin/nvcc").is_file() {
        fail(&format!(
            "no bin/nvcc under the CUDA toolkit root {}; check CUDA_HOME / CUDA_PATH.",
            root.display()
        ));
    }
    root
}

fn nvcc_on_path_root() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("nvcc"))
        .find(|nvcc| nvcc.is_file())
        .and_then(|nvcc| nvcc.parent()?.parent().map(Path::to_path_buf))
}

/// `CMAKE_CUDA_ARCHITECTURES` if set; `native` when a GPU is visible at build
/// time; otherwise one PTX target. Building every architecture takes hours.
fn architectures() -> String {
    if let Some(archs) = env("CMAKE_CUDA_ARCHITECTURES") {
        return archs;
    }
    let gpu_visible = Command::new("nvidia-smi")
        .arg("-L")
        .output()
        .map(|out| out.status.success())
        .unwrap_or(false);
    if gpu_visible {
        return "native".into();
    }
    println!(
        "cargo:warning=CMAKE_CUDA_ARCHITECTURES is not set and no GPU is visible: building PTX for {FALLBACK_ARCHITECTURES} only. \
         Set it for your GPU, e.g. CMAKE_CUDA_ARCHITECTURES=90-real for H100/H200."
    );
    FALLBACK_ARCHITECTURES.into()
}

pub fn configure(config: &mut cmake::Config) {
    let root = toolkit_root();
    config
        .define("CUDAToolkit_ROOT", &root)
        .define("CMAKE_CUDA_COMPILER", root.join("bin/nvcc"))
        .define("CMAKE_CUDA_ARCHITECTURES", architectures())
        // NCCL only helps several GPUs and would add a link dependency.
        .define("GGML_CUDA_NCCL", "OFF");
}

/// Folders holding libcudart, libcublas and the driver stub.
pub fn library_dirs() -> Vec<PathBuf> {
    let root = toolkit_root();
    [
        "lib64",
        "lib",
        "lib64/stubs",
        "lib/stubs",
        "targets/x86_64-linux/lib",
        "targets/sbsa-linux/lib",
    ]
    .into_iter()
    .map(|sub| root.join(sub))
    .filter(|dir| dir.is_dir())
    .collect()
}
