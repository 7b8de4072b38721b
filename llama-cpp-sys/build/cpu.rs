//! Which CPU instructions ggml's CPU backend is compiled for.
//!
//! - Default: ggml's portable baseline (`GGML_NATIVE=OFF`; on x86-64 SSE4.2,
//!   AVX, AVX2, BMI2, FMA, F16C), so a binary built on one machine runs on
//!   any x86-64 CPU of the last decade.
//! - `native`: `-march=native`, tuned for the build machine only.
//! - AMX code generation is always off on x86: ggml b10200's AMX kernels are
//!   miscompiled by gcc 12 and, compiled correctly, do not decode the same
//!   tokens as the other CPU paths (see [`AMX_OFF`]). The `amx` feature stops
//!   the build with that reason.

use crate::{fail, feature};

/// Why AMX is off, measured on a Xeon with AMX (docs/BENCHMARKS.md#cpu-instruction-sets).
pub const AMX_OFF: &str = "\
ggml b10200's AMX kernels (ggml/src/ggml-cpu/amx/mmq.cpp) fill the AMX tile configuration on the
stack and load it with _tile_loadconfig (ldtilecfg). GCC 12's dead-store elimination removes the
rows/colsb stores before ldtilecfg, so every tile has 0 rows and the first tile instruction raises
SIGILL (upstream: llama.cpp PR #26954, open; issue #28756). With the stores kept (-fno-dse, or
GCC 13) the kernels run, but greedy decoding of SmolLM2-135M Q4_1 through them differs from every
other CPU path at token 14 of 24, and GPT-OSS-20B --cpu-moe decodes 16% slower with AMX compiled
in (27.8 vs 33.1 t/s). So AMX is not offered. To try it anyway, build llama.cpp yourself with
GGML_AMX_INT8=ON and link it with LLAMA_CPP_LIB_DIR.";

/// Flags that keep the compiler from emitting AMX instructions, whatever
/// `-march` (native's, or one in the user's CFLAGS) would allow.
const NO_AMX: [&str; 3] = ["-mno-amx-tile", "-mno-amx-int8", "-mno-amx-bf16"];

pub fn configure(config: &mut cmake::Config) {
    config.define("GGML_NATIVE", if feature("native") { "ON" } else { "OFF" });
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let x86 = matches!(arch.as_str(), "x86" | "x86_64");
    let compiler = cc::Build::new().cpp(true).get_compiler();
    let gnu_like = compiler.is_like_gnu() || compiler.is_like_clang();

    if feature("amx") {
        fail(&format!("the `amx` feature is not available:\n{AMX_OFF}"));
    }
    for option in ["GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16"] {
        config.define(option, "OFF");
    }
    // ggml's own options only matter without `native`; the flags also cover
    // -march=native and any -march in the user's CFLAGS.
    if x86 && gnu_like {
        for flag in NO_AMX {
            config.cflag(flag).cxxflag(flag);
        }
    }
}
