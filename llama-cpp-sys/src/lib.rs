//! Raw FFI bindings to [llama.cpp](https://github.com/ggml-org/llama.cpp),
//! tag b10200, and to a small C++ shim (`llama_rs_*`) that exposes what
//! `llama.h` lacks.
//!
//! Everything here is `unsafe` and mirrors the C headers one to one. The safe
//! API lives in the `llama-cpp` crate.
//!
//! The native build is described in the crate README: cmake builds the
//! vendored llama.cpp (CPU by default; the `cuda` feature adds the CUDA
//! backend), or `LLAMA_CPP_LIB_DIR` links an existing build.
#![allow(non_upper_case_globals, non_camel_case_types, non_snake_case)]
#![allow(clippy::all)]
#![allow(rustdoc::all)]

#[cfg(not(feature = "bindgen"))]
include!("bindings.rs");
#[cfg(feature = "bindgen")]
include!(concat!(env!("OUT_DIR"), "/bindings.rs"));

/// C's `FILE`, opaque: the bindings only pass it through by pointer.
#[repr(C)]
pub struct FILE {
    _private: [u8; 0],
}

mod shim;
pub use shim::*;

/// The llama.cpp release the bindings and the vendored sources come from.
pub const LLAMA_CPP_TAG: &str = "b10200";

#[cfg(all(test, feature = "bindgen"))]
mod freshness {
    /// The committed bindings must equal what bindgen makes from the pinned
    /// headers; `make bindings` refreshes them.
    #[test]
    fn committed_bindings_are_fresh() {
        let committed = include_str!("bindings.rs");
        let generated = include_str!(concat!(env!("OUT_DIR"), "/bindings.rs"));
        assert!(
            committed == generated,
            "llama-cpp-sys/src/bindings.rs differs from bindgen's output for these headers: run `make bindings`"
        );
    }
}
