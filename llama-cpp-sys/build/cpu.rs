//! Which CPU instructions ggml's CPU backend is compiled for.
//!
//! - Default: ggml's portable baseline (`GGML_NATIVE=OFF`; on x86-64 SSE4.2,
//!   AVX, AVX2, BMI2, FMA, F16C), so a binary built on one machine runs on
//!   any x86-64 CPU of the last decade.
//! - `native`: `-march=native`, tuned for the build machine only.
//! - AMX code generation is always off on x86 unless the `amx` feature asks
//!   for it: ggml b10200's AMX kernels are miscompiled by gcc 12 (see
//!   [`AMX_MISCOMPILE`]) and the build would die with SIGILL at the first
//!   decode on every CPU with AMX.

use crate::{fail, feature};

/// Why AMX is opt-in, and what the opt-in does about it.
pub const AMX_MISCOMPILE: &str = "\
ggml b10200's AMX kernels (ggml/src/ggml-cpu/amx/mmq.cpp) fill the AMX tile configuration on the
stack and load it with _tile_loadconfig (ldtilecfg). GCC's RTL dead-store elimination removes the
rows/colsb stores before ldtilecfg (gcc 12.2 seen), so every tile has 0 rows and the first
tile instruction raises SIGILL. Upstream: llama.cpp PR #26954 (open), issue #28756.";

/// Flags that keep the compiler from emitting AMX instructions, whatever
/// `-march` (native, or the user's CFLAGS) would allow.
const NO_AMX: [&str; 3] = ["-mno-amx-tile", "-mno-amx-int8", "-mno-amx-bf16"];

/// Keeps the tile-configuration stores that dead-store elimination drops.
const KEEP_TILE_CONFIG: &str = "-fno-dse";

pub fn configure(config: &mut cmake::Config) {
    config.define("GGML_NATIVE", if feature("native") { "ON" } else { "OFF" });
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let x86 = matches!(arch.as_str(), "x86" | "x86_64");
    let compiler = cc::Build::new().cpp(true).get_compiler();
    let gnu_like = compiler.is_like_gnu() || compiler.is_like_clang();

    // `amx` adds no instructions by itself: AMX comes from `native` on a CPU
    // with AMX, or from a -march naming one in CFLAGS/CXXFLAGS.
    if !feature("amx") {
        // ggml's own options only matter without `native`; the flags also
        // cover -march=native and any -march in the user's CFLAGS.
        for option in ["GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16"] {
            config.define(option, "OFF");
        }
        if x86 && gnu_like {
            for flag in NO_AMX {
                config.cflag(flag).cxxflag(flag);
            }
        }
        return;
    }
    if !x86 {
        fail(&format!("the `amx` feature is for x86-64 targets; this target is {arch}."));
    }
    if !compiler.is_like_gnu() {
        fail(&format!(
            "the `amx` feature was verified only with GCC, which needs {KEEP_TILE_CONFIG} to compile ggml's AMX\n\
             kernels correctly:\n{AMX_MISCOMPILE}\n\
             Build with GCC (CC=gcc CXX=g++) or leave the feature off."
        ));
    }
    config.cflag(KEEP_TILE_CONFIG).cxxflag(KEEP_TILE_CONFIG);
}
