//! The planner's calibration points, read off a run's own rows: bench_moe
//! prints them (`calibration points: ...`) for `run.sh` to hand to the next
//! process as `fit_calib=`, and `--interleave` re-predicts each plan with
//! the points of its own turns.

use super::ConfigResult;
use llama_cpp_rs_moe::model_params::CpuMoe;
use llama_cpp_rs_moe::planning::{calibration_text, MeasuredRow};

/// The calibration points of the rows that ran plain `--cpu-moe` or
/// `--n-cpu-moe N` (no budget, no llama.cpp fit), as `fit_calib=` takes
/// them, and the ubatch their prompts ran in; `None` without a `--cpu-moe`
/// row.
pub(crate) fn calibration_points(results: &[ConfigResult]) -> Option<(String, u32)> {
    let (mut rows, mut n_ubatch) = (Vec::<MeasuredRow>::new(), None);
    for r in results {
        let c = &r.config;
        if c.fit.is_some() || c.ncm_fit.is_some() || c.ot_file.is_some() {
            continue;
        }
        let Some(placement) = c.cpu_moe else {
            continue;
        };
        let (Some(d), Some(p)) = (&r.rust.decode_tps_summary, &r.rust.prompt_tps_summary) else {
            continue;
        };
        // One point per placement: the first row of it.
        if rows.iter().any(|row| row.placement == placement) {
            continue;
        }
        rows.push(MeasuredRow {
            placement,
            prompt_tokens: u32::try_from(c.prompt).ok()?,
            prompt_tps: p.mean,
            decode_tps: d.mean,
        });
        n_ubatch = Some(c.ubatch.min(c.batch));
    }
    if !rows.iter().any(|row| row.placement == CpuMoe::All) {
        return None;
    }
    Some((calibration_text(&rows, ';'), n_ubatch?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_config;
    use crate::{loop_stats, Args, RunTimes};
    use clap::Parser;

    /// A row of `spec` whose one run took 100 ms for its prompt and
    /// `decode_ms` for 64 tokens.
    fn row(spec: &str, decode_ms: f64) -> ConfigResult {
        let args = Args::parse_from(["bench_moe", "--model", "m.gguf", "--config", spec]);
        let config = parse_config(spec, &args, 4).unwrap();
        let run = RunTimes {
            prompt_ms: 100.0,
            ttft_ms: 100.0,
            decode_ms,
            n_decode: 64,
            step_ms: Vec::new(),
        };
        ConfigResult {
            rust: loop_stats(&[run], config.prompt),
            config,
            load_seconds: 0.0,
            buffers: Vec::new(),
            device_used_bytes: Vec::new(),
            device_used_after_runs: None,
            rss_after_load: 0,
            rss_peak: 0,
            c: None,
            rust_over_c_prompt: None,
            rust_over_c_decode: None,
            rust_over_c_prompt_paired_median: None,
            rust_over_c_decode_paired_median: None,
        }
    }

    #[test]
    fn the_plain_cpu_moe_rows_of_the_turns_are_the_calibration() {
        let results = [
            row("plan:fit=8GiB,example=1", 250.0),
            row("base:moe=all,example=1", 2000.0),
            row("best:ncm_fit=8GiB,example=1", 500.0),
            row("ncm12:moe=12,example=1", 1000.0),
            row("again:moe=all,example=1", 10.0),
        ];
        let (points, n_ubatch) = calibration_points(&results).unwrap();
        assert_eq!(points, "all:32.00;12:64.00;all@512:5120.00;12@512:5120.00");
        assert_eq!(n_ubatch, 2048, "moe_offload's default ubatch");
        assert!(
            calibration_points(&results[2..4]).is_none(),
            "without --cpu-moe there is no calibration"
        );
    }
}
