//! How the examples' command lines become [`LlamaModelParams`]: layers on
//! the GPU, mmap or read, and which experts stay in host memory. One place,
//! so `moe_offload` and `bench_moe` load a model the same way.

use std::fmt;
use std::str::FromStr;

use llama_cpp::{LlamaModelParams, LoadMode};

/// Which expert tensors stay in host memory (llama.cpp's `--cpu-moe` and
/// `--n-cpu-moe N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuMoe {
    /// Every layer's experts ([`LlamaModelParams::with_cpu_moe_all`]).
    All,
    /// The experts of layers `0..n` ([`LlamaModelParams::with_n_cpu_moe`];
    /// 0 keeps them all on the GPU).
    FirstLayers(usize),
}

/// A MoE offload setting that is neither `all` nor a layer count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid MoE offload {value:?}: expected `all` or a number of layers")]
pub struct ParseCpuMoeError {
    /// The text that was given.
    pub value: String,
}

impl FromStr for CpuMoe {
    type Err = ParseCpuMoeError;

    /// `all`, or the number of leading layers whose experts stay in host
    /// memory. Anything else is an error: a typo must not silently run
    /// without offload.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "all" {
            return Ok(Self::All);
        }
        s.parse()
            .map(Self::FirstLayers)
            .map_err(|_| ParseCpuMoeError {
                value: s.to_owned(),
            })
    }
}

/// The text [`FromStr`] reads back: `all` or the layer count.
impl fmt::Display for CpuMoe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("all"),
            Self::FirstLayers(n) => write!(f, "{n}"),
        }
    }
}

/// Reports keep the setting as the user wrote it: `"all"` or `"12"`.
impl serde::Serialize for CpuMoe {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl CpuMoe {
    /// `params` with this setting's expert overrides added.
    pub fn apply(self, params: LlamaModelParams) -> LlamaModelParams {
        match self {
            Self::All => params.with_cpu_moe_all(),
            Self::FirstLayers(n) => params.with_n_cpu_moe(n),
        }
    }
}

/// Model params with `n_gpu_layers` on the GPU, the file memory-mapped
/// (`mmap`) or read into (pinned) buffers, and `cpu_moe`'s experts in host
/// memory.
pub fn model_params(n_gpu_layers: u32, mmap: bool, cpu_moe: Option<CpuMoe>) -> LlamaModelParams {
    let load_mode = if mmap { LoadMode::Mmap } else { LoadMode::Read };
    let params = LlamaModelParams::default()
        .with_n_gpu_layers(n_gpu_layers)
        .with_load_mode(load_mode);
    match cpu_moe {
        None => params,
        Some(moe) => moe.apply(params),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(params: &LlamaModelParams) -> Vec<String> {
        params
            .tensor_overrides()
            .iter()
            .map(|o| o.pattern().to_owned())
            .collect()
    }

    #[test]
    fn parses_all_and_layer_counts_and_rejects_the_rest() {
        assert_eq!("all".parse(), Ok(CpuMoe::All));
        assert_eq!("12".parse(), Ok(CpuMoe::FirstLayers(12)));
        assert_eq!("0".parse(), Ok(CpuMoe::FirstLayers(0)));
        for bad in ["abc", "", "-1", "12x", "ALL "] {
            let err = bad.parse::<CpuMoe>().unwrap_err();
            assert_eq!(err.value, bad);
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn display_round_trips_and_serializes_as_written() {
        for moe in [CpuMoe::All, CpuMoe::FirstLayers(7)] {
            assert_eq!(moe.to_string().parse(), Ok(moe));
        }
        let json = serde_json::to_string(&[Some(CpuMoe::All), Some(CpuMoe::FirstLayers(12)), None])
            .unwrap();
        assert_eq!(json, r#"["all","12",null]"#);
    }

    #[test]
    fn params_carry_the_offload_the_option_names() {
        let all = model_params(999, false, Some(CpuMoe::All));
        let expected = patterns(&LlamaModelParams::default().with_cpu_moe_all());
        assert_eq!(patterns(&all), expected);
        assert_eq!(all.n_gpu_layers(), 999);
        assert!(!all.uses_mmap());

        let first = model_params(20, true, Some(CpuMoe::FirstLayers(12)));
        let expected = patterns(&LlamaModelParams::default().with_n_cpu_moe(12));
        assert_eq!(patterns(&first), expected);
        assert!(first.uses_mmap());

        assert!(patterns(&model_params(999, false, None)).is_empty());
        assert!(patterns(&model_params(999, false, Some(CpuMoe::FirstLayers(0)))).is_empty());
    }
}
