//! Finding the llama.cpp source tree.

use crate::{env, fail};
use std::path::{Path, PathBuf};

/// The llama.cpp release these bindings were generated from.
pub const LLAMA_CPP_TAG: &str = "b10200";

pub struct LlamaSource {
    pub root: PathBuf,
}

impl LlamaSource {
    /// `LLAMA_CPP_SRC_DIR` if set, else the vendored submodule.
    pub fn locate() -> Self {
        let root = match env("LLAMA_CPP_SRC_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => Path::new(env!("CARGO_MANIFEST_DIR")).join("llama.cpp"),
        };
        if !root.join("include/llama.h").is_file() || !root.join("CMakeLists.txt").is_file() {
            fail(&format!(
                "llama.cpp sources not found in {}.\n\
                 From a clone of this repository run `scripts/bootstrap.sh` (or `make bootstrap`),\n\
                 or `git submodule update --init llama-cpp-sys/llama.cpp`.\n\
                 To use another tree, set LLAMA_CPP_SRC_DIR to its root (the folder holding include/llama.h).",
                root.display()
            ));
        }
        // Only the files whose change must rebuild llama.cpp: the build
        // description and the public headers. Editing a llama.cpp .cpp file
        // needs `touch llama-cpp-sys/llama.cpp/CMakeLists.txt` (README).
        for tracked in ["CMakeLists.txt", "ggml/CMakeLists.txt", "include/llama.h", "ggml/include"] {
            println!("cargo:rerun-if-changed={}", root.join(tracked).display());
        }
        Self { root }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    pub fn include_dirs_joined(&self) -> String {
        let dirs = [self.root.join("include"), self.root.join("ggml/include")];
        std::env::join_paths(dirs)
            .expect("include paths hold no separator")
            .to_string_lossy()
            .into_owned()
    }
}
