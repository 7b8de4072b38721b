//! The JSON report of `examples/moe_offload/` and the comparison and
//! summary built from it. The field names are the report's schema: renaming
//! one changes every JSON file written since (docs/measurements/*.json).

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use crate::measure::{Generation, Summary};

/// Bytes in MiB, the unit every table of the example prints.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The whole report: one file per `moe_offload --json` run.
#[derive(Serialize)]
pub struct Report {
    /// The llama.cpp version the example was built against.
    pub llama_cpp: &'static str,
    /// What the model file is.
    pub model: ModelFacts,
    /// The settings every configuration ran with.
    pub settings: Settings,
    /// One entry per configuration, in run order.
    pub configurations: Vec<ConfigReport>,
    /// The offloaded configuration against the baseline, with `--compare`.
    pub comparison: Option<Comparison>,
    /// With `--calibrate`: the measured speeds as `--calib` text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration: Option<String>,
}

/// The model file, from its GGUF header.
#[derive(Serialize)]
pub struct ModelFacts {
    pub path: PathBuf,
    pub architecture: String,
    pub n_layer: u64,
    pub n_expert: u64,
    pub n_expert_used: u64,
    pub file_bytes: u64,
    /// `None` when hashing was skipped.
    pub sha256: Option<String>,
}

/// The settings of the runs, as the context reports them.
#[derive(Serialize, Clone)]
pub struct Settings {
    pub n_gpu_layers: u32,
    pub ctx_size: u32,
    pub threads: i32,
    pub batch: u32,
    pub ubatch: u32,
    pub load_mode: &'static str,
    pub prompt_tokens: usize,
    pub n_predict: usize,
    pub temp: f32,
    pub seed: u32,
    pub runs: usize,
}

/// One device's free memory around the load, in bytes.
#[derive(Serialize)]
pub struct DeviceMemory {
    pub name: String,
    pub free_before_load: u64,
    pub free_after_load: u64,
    pub free_after_context: u64,
    pub total: u64,
}

/// One measured generation.
#[derive(Serialize)]
pub struct RunReport {
    pub prompt_tokens: usize,
    pub generated_tokens: usize,
    pub ttft_ms: f64,
    pub prompt_tps: f64,
    pub decode_tps: Option<f64>,
    pub itl_p50_ms: Option<f64>,
    pub itl_p95_ms: Option<f64>,
}

/// One configuration (placement) and everything measured with it.
#[derive(Serialize)]
pub struct ConfigReport {
    pub name: String,
    pub overrides: Vec<String>,
    pub load_seconds: f64,
    pub buffers: Vec<BufferRow>,
    pub devices: Vec<DeviceMemory>,
    pub rss_before_load: u64,
    pub rss_after_load: u64,
    /// From just before this configuration's load to the end of its runs.
    pub rss_peak: u64,
    pub runs: Vec<RunReport>,
    pub ttft_ms: Option<Summary>,
    pub prompt_tps: Option<Summary>,
    pub decode_tps: Option<Summary>,
    pub text: String,
    /// The greedy warm-up run, which [`compare`] compares.
    #[serde(skip)]
    pub greedy: Option<Generation>,
    /// What the placement planner predicted before loading (`--fit`,
    /// `--vram-budget`), next to the measured `buffers` and speeds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicted: Option<Prediction>,
}

/// The placement planner's predictions for one configuration.
#[derive(Serialize, Clone)]
pub struct Prediction {
    /// Per GPU: its name, budget, llama.cpp's dry-run bytes and the reserve.
    pub devices: Vec<PredictedDevice>,
    pub prompt_tps: f64,
    pub decode_tps: f64,
    /// The workload the plan minimised: prompt and generated tokens.
    pub workload: (u32, u32),
    pub reasons: Vec<String>,
}

/// One GPU of a [`Prediction`], in bytes.
#[derive(Serialize, Clone)]
pub struct PredictedDevice {
    pub name: String,
    pub budget: u64,
    pub weights: u64,
    pub kv_cache: u64,
    pub compute: u64,
    /// Kept free beside the buffers for the backend's memory pool and
    /// kernels; the predicted peak is the buffers plus this.
    pub reserve: u64,
}

/// One llama.cpp buffer, in bytes.
#[derive(Serialize)]
pub struct BufferRow {
    pub buffer_type: String,
    pub device: String,
    pub weights: u64,
    pub kv_cache: u64,
    pub compute: u64,
}

/// How the offloaded configuration's greedy output differs from the
/// baseline's.
#[derive(Serialize)]
pub struct Comparison {
    /// Why there is no comparison, if there is none.
    pub skipped: Option<String>,
    pub greedy_tokens_compared: usize,
    /// Index of the first token that differs; `None` when all agree.
    pub first_divergence: Option<usize>,
    /// Largest absolute difference of the logits after the prompt.
    pub max_abs_logit_delta_first_token: Option<f32>,
}

impl Comparison {
    /// No comparison, for `reason`.
    pub fn skipped(reason: impl Into<String>) -> Self {
        Self {
            skipped: Some(reason.into()),
            greedy_tokens_compared: 0,
            first_divergence: None,
            max_abs_logit_delta_first_token: None,
        }
    }
}

/// Compares the greedy runs of two configurations token by token, and
/// their logits after the prompt.
pub fn compare(offloaded: &ConfigReport, baseline: &ConfigReport) -> Comparison {
    let (a, b) = (offloaded.greedy.as_ref(), baseline.greedy.as_ref());
    let (Some(a), Some(b)) = (a, b) else {
        return Comparison::skipped("no greedy runs");
    };
    let compared = a.tokens.len().min(b.tokens.len());
    let first_divergence = a.tokens.iter().zip(&b.tokens).position(|(x, y)| x != y);
    let same_shape = a.first_logits.len() == b.first_logits.len() && !a.first_logits.is_empty();
    let max_delta = same_shape.then(|| {
        let deltas = a
            .first_logits
            .iter()
            .zip(&b.first_logits)
            .map(|(x, y)| (x - y).abs());
        deltas.fold(0.0f32, f32::max)
    });
    Comparison {
        skipped: None,
        greedy_tokens_compared: compared,
        first_divergence,
        max_abs_logit_delta_first_token: max_delta,
    }
}

/// The closing table: speed and memory per configuration, then the quality
/// comparison. Starts with an empty line; every line ends with a newline.
pub fn summary(reports: &[ConfigReport], comparison: Option<&Comparison>) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let header = ["configuration", "TTFT ms", "prompt t/s", "decode t/s"];
    let [name, ttft, prompt, decode] = header;
    let _ = writeln!(out, "\n{name:<24} {ttft:>26} {prompt:>26} {decode:>26}");
    let cell = |s: &Option<Summary>| {
        s.map_or("n/a".to_owned(), |s| format!("{:.1} ± {:.1}", s.mean, s.sd))
    };
    for r in reports {
        let (ttft, prompt, decode) = (cell(&r.ttft_ms), cell(&r.prompt_tps), cell(&r.decode_tps));
        let _ = writeln!(out, "{:<24} {ttft:>26} {prompt:>26} {decode:>26}", r.name);
    }
    for r in reports {
        let bytes = |on_cpu: bool| -> u64 {
            let rows = r.buffers.iter().filter(|b| (b.device == "CPU") == on_cpu);
            rows.map(|b| b.weights + b.kv_cache + b.compute).sum()
        };
        let _ = writeln!(
            out,
            "{:<24} GPU buffers {:.0} MiB, host buffers {:.0} MiB, peak RSS {:.0} MiB",
            r.name,
            mib(bytes(false)),
            mib(bytes(true)),
            mib(r.rss_peak)
        );
    }
    if let Some(c) = comparison {
        let _ =
            match &c.skipped {
                Some(reason) => writeln!(out, "comparison skipped: {reason}"),
                None => writeln!(
                out,
                "quality: greedy tokens identical for {} of {} ({}), max |Δ logit| of the first \
                 token {}",
                c.first_divergence.unwrap_or(c.greedy_tokens_compared),
                c.greedy_tokens_compared,
                c.first_divergence
                    .map_or("no divergence".to_owned(), |p| format!("first divergence at {p}")),
                c.max_abs_logit_delta_first_token.map_or("n/a".to_owned(), |d| format!("{d:.3e}"))
            ),
            };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use llama_cpp::LlamaToken;
    use std::time::Duration;

    fn config(name: &str, tokens: &[i32], logits: &[f32]) -> ConfigReport {
        ConfigReport {
            name: name.to_owned(),
            overrides: Vec::new(),
            predicted: None,
            load_seconds: 0.5,
            buffers: vec![
                BufferRow {
                    buffer_type: "CUDA0".into(),
                    device: "CUDA0".into(),
                    weights: 3 << 20,
                    kv_cache: 1 << 20,
                    compute: 1 << 20,
                },
                BufferRow {
                    buffer_type: "CPU".into(),
                    device: "CPU".into(),
                    weights: 7 << 20,
                    kv_cache: 0,
                    compute: 1 << 20,
                },
            ],
            devices: Vec::new(),
            rss_before_load: 0,
            rss_after_load: 0,
            rss_peak: 100 << 20,
            runs: Vec::new(),
            ttft_ms: Summary::of(&[10.0, 12.0]),
            prompt_tps: None,
            decode_tps: None,
            text: String::new(),
            greedy: Some(Generation {
                n_prompt: 3,
                tokens: tokens.iter().map(|&t| LlamaToken(t)).collect(),
                prompt_time: Duration::from_millis(5),
                token_times: Vec::new(),
                first_logits: logits.to_vec(),
            }),
        }
    }

    #[test]
    fn compare_finds_the_first_divergence_and_the_largest_logit_delta() {
        let a = config("a", &[1, 2, 3, 4], &[0.5, -1.0, 2.0]);
        let b = config("b", &[1, 2, 9, 4, 5], &[0.25, 1.0, 2.0]);
        let c = compare(&a, &b);
        assert_eq!(c.skipped, None);
        assert_eq!(c.greedy_tokens_compared, 4);
        assert_eq!(c.first_divergence, Some(2));
        assert_eq!(c.max_abs_logit_delta_first_token, Some(2.0));

        let same = compare(&a, &config("a2", &[1, 2, 3, 4], &[0.5, -1.0, 2.0]));
        assert_eq!(same.first_divergence, None);
        assert_eq!(same.max_abs_logit_delta_first_token, Some(0.0));
        // Logits of different vocabularies are not compared.
        let other_vocab = compare(&a, &config("v", &[1], &[0.0]));
        assert_eq!(other_vocab.max_abs_logit_delta_first_token, None);

        let mut no_greedy = config("n", &[], &[]);
        no_greedy.greedy = None;
        assert_eq!(
            compare(&a, &no_greedy).skipped.as_deref(),
            Some("no greedy runs")
        );
    }

    #[test]
    fn summary_sums_buffers_per_side_and_states_the_quality() {
        let a = config("--cpu-moe", &[1, 2, 3, 4], &[0.5]);
        let b = config("no offload", &[1, 2, 9, 4], &[0.0]);
        let text = summary(
            &[a, b],
            Some(&Comparison {
                skipped: None,
                greedy_tokens_compared: 4,
                first_divergence: Some(2),
                max_abs_logit_delta_first_token: Some(0.5),
            }),
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "");
        assert!(lines[1].starts_with("configuration"), "{text}");
        assert!(
            lines[2].contains("11.0 ± 1.4") && lines[2].contains("n/a"),
            "{text}"
        );
        let memory = "GPU buffers 5 MiB, host buffers 8 MiB, peak RSS 100 MiB";
        assert!(lines[4].contains(memory), "{text}");
        assert_eq!(
            lines[6],
            "quality: greedy tokens identical for 2 of 4 (first divergence at 2), max |Δ logit| \
             of the first token 5.000e-1"
        );
        let skipped = summary(&[], Some(&Comparison::skipped("too big")));
        assert!(
            skipped.ends_with("comparison skipped: too big\n"),
            "{skipped}"
        );
    }
}
