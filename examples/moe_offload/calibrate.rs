//! `--calibrate`: this machine's speeds for the planner, measured with the
//! two placements llama.cpp's flags name and printed as `--calib` text, and
//! the speed model they make.

use crate::{context_params, Args};
use anyhow::{Context as _, Result};
use llama_cpp::planner::SpeedModel;
use llama_cpp::Planner;
use llama_cpp_rs_moe::model_params::{model_params, CpuMoe};
use llama_cpp_rs_moe::planning::{
    self, calibrated_speed_model, calibration_text, parse_budget, parse_calibration, MeasuredRow,
};
use llama_cpp_rs_moe::report::ConfigReport;
use std::path::Path;

/// The speed model's constants that calibration fits.
pub(crate) fn describe(speed: &SpeedModel) -> String {
    format!(
        "host decode {:.1} GB/s, {:.3} ms per host layer, prompts routed to {:.1}% of the experts",
        speed.host_decode_bandwidth / 1e9,
        speed.host_decode_layer_overhead * 1e3,
        speed.routing_spread * 100.0
    )
}

/// `--calibrate`'s placements: `--cpu-moe` and, where the budget leaves room,
/// `--n-cpu-moe N` (planning::calibration_placements).
pub(crate) fn calibration_placements(
    args: &Args,
    path: &Path,
    threads: i32,
) -> Result<Vec<CpuMoe>> {
    let mut planner = Planner::new(path);
    if let Some(text) = &args.vram_budget {
        planner = planner.budget(parse_budget(text)?);
    }
    let ctx_params = context_params(args, threads);
    let reserve = planner.reserve_for(args.ubatch.min(args.batch));
    let params = model_params(999, args.mmap, None);
    let placements = planning::calibration_placements(&planner, &params, &ctx_params, reserve)
        .context("--calibrate")?;
    Ok(placements)
}

pub(crate) fn placement_name(placement: CpuMoe) -> String {
    match placement {
        CpuMoe::All => "--cpu-moe".to_owned(),
        CpuMoe::FirstLayers(n) => format!("--n-cpu-moe {n}"),
    }
}

/// `--calibrate`'s result: the rows measured with `placements` as `--calib`
/// text, printed with the speed model they make (or why they make none).
pub(crate) fn calibration(
    args: &Args,
    path: &Path,
    placements: &[CpuMoe],
    reports: &[ConfigReport],
) -> Option<String> {
    let rows: Vec<_> = placements
        .iter()
        .zip(reports)
        .filter_map(|(&placement, r)| {
            Some(MeasuredRow {
                placement,
                prompt_tokens: u32::try_from(r.runs.first()?.prompt_tokens).ok()?,
                prompt_tps: r.prompt_tps.as_ref()?.mean,
                decode_tps: r.decode_tps.as_ref()?.mean,
            })
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    let text = calibration_text(&rows, ',');
    println!("\ncalibration (give it to --calib): {text}");
    // The printed text, rounded as printed, is what calibrates: the same model `--calib TEXT` makes.
    let points = parse_calibration(&text, args.ubatch.min(args.batch));
    let speed = points
        .map_err(anyhow::Error::from)
        .and_then(|points| calibrated_speed_model(path, &points).map_err(anyhow::Error::from));
    match speed {
        Ok(speed) => println!("speed model: {}", describe(&speed)),
        Err(err) => println!("these speeds calibrate no speed model: {err:#}"),
    }
    Some(text)
}

/// `--prompt-tokens`, or 512 for `--calibrate`: the prompt of the calibrations
/// in docs/PLANNER-BENCHMARKS.md (`run.sh calib`), which predicted 512- and 4,096-token rows.
pub(crate) fn prompt_tokens(args: &Args) -> Option<usize> {
    (args.prompt_tokens).or(args.calibrate.then_some(512))
}
