//! The examples' side of the placement planner: budgets from the command
//! line (`8GiB`, `8GiB,4GiB`), measured decode speeds that calibrate its
//! speed model (`all:33.1;12:60.2`), and the hand-picked placement the
//! planner is measured against, the best `--n-cpu-moe N` that fits the same
//! budget.

use crate::model_params::CpuMoe;
use llama_cpp::gguf::{GgufError, GgufFile};
use llama_cpp::planner::{
    Budget, CalibrationError, DecodePoint, DeviceBytes, ModelLayout, PlanError, Planner, SpeedModel,
};
use llama_cpp::{LlamaContextParams, LlamaModelParams};
use std::collections::BTreeMap;
use std::path::Path;

/// llama.cpp's dry-run accounting per device name (`CPU` for the host).
pub type DryRunBytes = BTreeMap<String, DeviceBytes>;

/// A size that is not a number with an optional unit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid size {value:?}: expected a number and a unit (B, KiB, MiB, GiB, KB, MB, GB)")]
pub struct ParseSizeError {
    /// The text that was given.
    pub value: String,
}

/// Bytes of `8GiB`, `7.5 GB`, `512MiB` or a plain byte count.
pub fn parse_size(text: &str) -> Result<u64, ParseSizeError> {
    let bad = || ParseSizeError {
        value: text.to_owned(),
    };
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: f64 = number.parse().map_err(|_| bad())?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        _ => return Err(bad()),
    };
    let bytes = number * scale;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes.round() as u64)
}

/// `8GiB` or one size per GPU, `8GiB,4GiB`.
pub fn parse_sizes(text: &str) -> Result<Vec<u64>, ParseSizeError> {
    text.split(',').map(parse_size).collect()
}

/// [`parse_sizes`] as a planner budget.
pub fn parse_budget(text: &str) -> Result<Budget, ParseSizeError> {
    parse_sizes(text).map(Budget::bytes_per_device)
}

/// A measured decode speed that is not `all:TPS` or `N:TPS`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid decode measurement {value:?}: expected all:TPS (--cpu-moe) or N:TPS (--n-cpu-moe N) \
     with the measured decode tokens/s, e.g. all:33.1;12:60.2"
)]
pub struct ParseDecodePointError {
    /// The text that was given.
    pub value: String,
}

/// Decode speeds measured with llama.cpp's placements, `;`- or `,`-separated:
/// `all:33.1;12:60.2` is 33.1 t/s with `--cpu-moe` and 60.2 with
/// `--n-cpu-moe 12`. Whether a speed is usable is the calibration's to say.
pub fn parse_decode_points(text: &str) -> Result<Vec<DecodePoint>, ParseDecodePointError> {
    text.split([';', ','])
        .map(|item| {
            let bad = || ParseDecodePointError {
                value: item.to_owned(),
            };
            let (placement, tps) = item.split_once(':').ok_or_else(bad)?;
            let tps: f64 = tps.trim().parse().map_err(|_| bad())?;
            match placement.trim().parse().map_err(|_| bad())? {
                CpuMoe::All => Ok(DecodePoint::cpu_moe(tps)),
                CpuMoe::FirstLayers(n) => Ok(DecodePoint::n_cpu_moe(
                    u32::try_from(n).map_err(|_| bad())?,
                    tps,
                )),
            }
        })
        .collect()
}

/// Why no calibrated speed model came out.
#[derive(Debug, thiserror::Error)]
pub enum CalibrateError {
    /// The model's header could not be read.
    #[error("{path}: {source}")]
    Model {
        /// The model file.
        path: String,
        /// What went wrong.
        source: GgufError,
    },
    /// The measurements do not fit.
    #[error(transparent)]
    Fit(#[from] CalibrationError),
}

/// The planner's reference speed model with its host decode constants
/// fitted to `points`, measured with the model at `path` on this machine.
pub fn calibrated_speed_model(
    path: &Path,
    points: &[DecodePoint],
) -> Result<SpeedModel, CalibrateError> {
    let file = GgufFile::open(path).map_err(|source| CalibrateError::Model {
        path: path.display().to_string(),
        source,
    })?;
    let layout = ModelLayout::from_gguf(&file);
    Ok(SpeedModel::default().calibrate_decode(&layout, points)?)
}

/// The GPU bytes of a dry run: every device but the host.
pub fn gpu_bytes(dry_run: &DryRunBytes) -> Vec<(String, u64)> {
    dry_run
        .iter()
        .filter(|(d, _)| *d != "CPU")
        .map(|(d, b)| (d.clone(), b.total()))
        .collect()
}

/// The smallest `n` whose `--n-cpu-moe n` fits every GPU within `budgets`
/// less `reserve` (GPUs in name order; the planner's reserve makes the
/// comparison fair), by llama.cpp's dry-run accounting: the fastest
/// hand-picked placement for that budget, since more host layers never
/// decode faster. VRAM falls as `n` grows, so a bisection finds it in about
/// log2(layers) dry runs. `None` when not even every layer on the host fits.
pub fn best_n_cpu_moe(
    planner: &Planner,
    params: &LlamaModelParams,
    ctx_params: &LlamaContextParams,
    n_layer: usize,
    budgets: &[u64],
    reserve: u64,
) -> Result<Option<(usize, DryRunBytes)>, PlanError> {
    let fits = |n: usize| -> Result<Option<DryRunBytes>, PlanError> {
        let bytes = planner.dry_run(&params.clone().with_n_cpu_moe(n), ctx_params)?;
        let gpus = gpu_bytes(&bytes);
        let ok = gpus.len() == budgets.len()
            && gpus
                .iter()
                .zip(budgets)
                .all(|((_, used), &max)| *used + reserve <= max);
        Ok(ok.then_some(bytes))
    };
    let Some(mut best) = fits(n_layer)? else {
        return Ok(None);
    };
    // Invariant: n_layer.. fits (best is hi's bytes), ..lo does not.
    let (mut lo, mut hi) = (0, n_layer);
    while lo < hi {
        let mid = (lo + hi) / 2;
        match fits(mid)? {
            Some(bytes) => (hi, best) = (mid, bytes),
            None => lo = mid + 1,
        }
    }
    Ok(Some((hi, best)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_and_decimal_units() {
        assert_eq!(parse_size("8GiB"), Ok(8 << 30));
        assert_eq!(parse_size("7.5 GB"), Ok(7_500_000_000));
        assert_eq!(parse_size("512mib"), Ok(512 << 20));
        assert_eq!(parse_size("1234"), Ok(1234));
        for bad in ["", "GiB", "8 GiBs", "-1GiB", "1e3", "8,5GiB"] {
            assert_eq!(
                parse_size(bad),
                Err(ParseSizeError {
                    value: bad.to_owned()
                }),
                "{bad}"
            );
        }
        let Budget::BytesPerDevice(sizes) = parse_budget("8GiB,4GiB").unwrap() else {
            panic!("a list is per device");
        };
        assert_eq!(sizes, [8 << 30, 4 << 30]);
    }

    #[test]
    fn decode_points_parse_as_placement_and_speed() {
        assert_eq!(
            parse_decode_points("all:33.1;12:60.2").unwrap(),
            [DecodePoint::cpu_moe(33.1), DecodePoint::n_cpu_moe(12, 60.2)]
        );
        assert_eq!(
            parse_decode_points("7:76.1,all:30").unwrap(),
            [DecodePoint::n_cpu_moe(7, 76.1), DecodePoint::cpu_moe(30.0)]
        );
        for bad in ["", "all", "all:", "x:3", "-1:30", "12:fast", "all:33.1;"] {
            assert!(parse_decode_points(bad).is_err(), "{bad}");
        }
    }
}
