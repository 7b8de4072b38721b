//! Finding the llama.cpp source tree.

use crate::{env, fail};
use std::path::{Path, PathBuf};

/// The llama.cpp release these bindings were generated from.
pub const LLAMA_CPP_TAG: &str = "b10200";
/// Its commit (the submodule's, and scripts/bootstrap.sh's LLAMA_COMMIT).
pub const LLAMA_CPP_COMMIT: &str = "5f55650a78f92aff4d48d671423e888fac0469ff";
/// Its build number, what llama.cpp's cmake calls LLAMA_BUILD_NUMBER.
pub const LLAMA_CPP_BUILD_NUMBER: u64 = 10200;

pub struct LlamaSource {
    pub root: PathBuf,
    /// The vendored tree, which is the pinned release (not LLAMA_CPP_SRC_DIR).
    pub vendored: bool,
}

impl LlamaSource {
    /// `LLAMA_CPP_SRC_DIR` if set, else the vendored submodule. With a
    /// prebuilt library (`headers_only`) only the headers the shim is
    /// compiled against are needed, not the build description.
    pub fn locate(headers_only: bool) -> Self {
        let (root, vendored) = match env("LLAMA_CPP_SRC_DIR") {
            Some(dir) => (PathBuf::from(dir), false),
            None => (
                Path::new(env!("CARGO_MANIFEST_DIR")).join("llama.cpp"),
                true,
            ),
        };
        let needed: &[&str] = if headers_only {
            &[
                "include/llama.h",
                "ggml/include/ggml.h",
                "src/llama-model.h",
                "src/llama-context.h",
            ]
        } else {
            &["include/llama.h", "CMakeLists.txt"]
        };
        if let Some(missing) = needed.iter().find(|file| !root.join(file).is_file()) {
            fail(&format!(
                "llama.cpp sources not found in {} (no {missing}).\n\
                 From a clone of this repository run `scripts/bootstrap.sh` (or `make bootstrap`),\n\
                 or `git submodule update --init llama-cpp-sys/llama.cpp`.\n\
                 To use another tree, set LLAMA_CPP_SRC_DIR to its root (the folder holding include/llama.h).",
                root.display()
            ));
        }
        // Only the files whose change must rebuild llama.cpp: the build
        // description and the public headers. Editing a llama.cpp .cpp file
        // needs `touch llama-cpp-sys/llama.cpp/CMakeLists.txt` (README).
        let tracked: &[&str] = if headers_only {
            &["include/llama.h", "ggml/include"]
        } else {
            &[
                "CMakeLists.txt",
                "ggml/CMakeLists.txt",
                "include/llama.h",
                "ggml/include",
            ]
        };
        for tracked in tracked {
            println!("cargo:rerun-if-changed={}", root.join(tracked).display());
        }
        Self { root, vendored }
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
