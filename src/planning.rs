//! The examples' side of the placement planner: budgets from the command
//! line (`8GiB`, `8GiB,4GiB`), measured decode and prompt speeds that
//! calibrate its speed model (`all:33.1;12:60.2;all@512:6598`), and the
//! hand-picked placement the planner is measured against, the best
//! `--n-cpu-moe N` that fits the same budget.

use crate::model_params::CpuMoe;
use llama_cpp::gguf::{GgufError, GgufFile};
use llama_cpp::planner::{
    Budget, CalibrationError, DecodePoint, DeviceBytes, ModelLayout, PlanError, Planner,
    PromptPoint, SpeedModel, GIB,
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

/// An item of a calibration text that is not `PLACEMENT:TPS` or
/// `PLACEMENT@TOKENS:TPS`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid calibration item {value:?}: expected PLACEMENT:TPS (decode tokens/s) or \
     PLACEMENT@TOKENS:TPS (prompt tokens/s on a TOKENS-token prompt), PLACEMENT all \
     (--cpu-moe) or N (--n-cpu-moe N), e.g. all:33.1;12:60.2;all@512:6598"
)]
pub struct ParseCalibrationError {
    /// The item that was given.
    pub value: String,
}

/// Speeds measured on this machine that calibrate the planner's speed
/// model: decode speeds fit its host decode constants, prompt speeds the
/// model's routing spread.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CalibrationPoints {
    /// Measured decode speeds.
    pub decode: Vec<DecodePoint>,
    /// Measured prompt speeds.
    pub prompt: Vec<PromptPoint>,
}

/// Speeds measured with llama.cpp's placements, `;`- or `,`-separated items:
///
/// * `all:33.1` decoded 33.1 t/s with `--cpu-moe`, `12:60.2` 60.2 t/s with
///   `--n-cpu-moe 12`;
/// * `all@512:6598` processed a 512-token prompt at 6,598 t/s with
///   `--cpu-moe`, `24@512:8041` at 8,041 t/s with `--n-cpu-moe 24`, in
///   ubatches of `n_ubatch` tokens.
///
/// Whether a speed or a prompt length is usable is the calibration's to say.
pub fn parse_calibration(
    text: &str,
    n_ubatch: u32,
) -> Result<CalibrationPoints, ParseCalibrationError> {
    let mut points = CalibrationPoints::default();
    for item in text.split([';', ',']) {
        let bad = || ParseCalibrationError {
            value: item.to_owned(),
        };
        let (head, tps) = item.split_once(':').ok_or_else(bad)?;
        let tps: f64 = tps.trim().parse().map_err(|_| bad())?;
        let (placement, prompt_tokens) = match head.split_once('@') {
            Some((placement, tokens)) => (
                placement,
                Some(tokens.trim().parse::<u32>().map_err(|_| bad())?),
            ),
            None => (head, None),
        };
        let layers = match placement.trim().parse().map_err(|_| bad())? {
            CpuMoe::All => u32::MAX,
            CpuMoe::FirstLayers(n) => u32::try_from(n).map_err(|_| bad())?,
        };
        match prompt_tokens {
            None => points.decode.push(DecodePoint::n_cpu_moe(layers, tps)),
            Some(tokens) => {
                (points.prompt).push(PromptPoint::n_cpu_moe(layers, tokens, n_ubatch, tps))
            }
        }
    }
    Ok(points)
}

/// One row measured with a placement llama.cpp's flags name: a decode and a
/// prompt point for the speed model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeasuredRow {
    /// `--cpu-moe` or `--n-cpu-moe N`.
    pub placement: CpuMoe,
    /// Tokens of the measured prompt.
    pub prompt_tokens: u32,
    /// Measured prompt tokens per second.
    pub prompt_tps: f64,
    /// Measured generated tokens per second.
    pub decode_tps: f64,
}

/// `rows` as the text [`parse_calibration`] reads back: decode items, then
/// prompt items, `separator` between them (`,` for `moe_offload --calib`,
/// `;` inside a `bench_moe` configuration).
pub fn calibration_text(rows: &[MeasuredRow], separator: char) -> String {
    let decode = rows
        .iter()
        .map(|r| format!("{}:{:.2}", r.placement, r.decode_tps));
    let prompt = rows.iter().map(|r| {
        let (placement, tokens, tps) = (r.placement, r.prompt_tokens, r.prompt_tps);
        format!("{placement}@{tokens}:{tps:.2}")
    });
    let items: Vec<_> = decode.chain(prompt).collect();
    items.join(&separator.to_string())
}

/// Why there is no pair of placements to calibrate with.
#[derive(Debug, thiserror::Error)]
pub enum CalibrationPlacementError {
    /// No GPU to load onto (none found, or `n_gpu_layers` is 0): every weight
    /// is in host memory whatever the flags say.
    #[error(
        "no GPU (none found, or n_gpu_layers is 0): with every weight in host memory, where the \
         experts sit changes nothing to calibrate"
    )]
    NoGpu,
    /// Not even every expert in host memory fits.
    #[error("not even --cpu-moe fits the budget ({})", budget_text(.0))]
    NothingFits(Vec<(String, u64)>),
    /// The model's header could not be read.
    #[error("{path}: {source}")]
    Model {
        /// The model file.
        path: String,
        /// What went wrong.
        source: GgufError,
    },
    /// A dry run failed.
    #[error(transparent)]
    Plan(#[from] PlanError),
}

fn budget_text(budgets: &[(String, u64)]) -> String {
    let sizes: Vec<_> = budgets
        .iter()
        .map(|(name, b)| format!("{name} {:.2} GiB", *b as f64 / GIB as f64))
        .collect();
    sizes.join(", ")
}

/// The placements a calibration measures: `--cpu-moe`, and `--n-cpu-moe N`
/// with `N` half the layers or, where that does not fit the planner's budget
/// less `reserve`, the fewest host layers that do. The two decode points
/// separate the cost per host expert byte from the fixed cost per layer the
/// better, the further apart they are. `--cpu-moe` alone when nothing else
/// fits.
pub fn calibration_placements(
    planner: &Planner,
    params: &LlamaModelParams,
    ctx_params: &LlamaContextParams,
    reserve: u64,
) -> Result<Vec<CpuMoe>, CalibrationPlacementError> {
    let budgets = planner.budget_bytes(params)?;
    if budgets.is_empty() {
        return Err(CalibrationPlacementError::NoGpu);
    }
    let path = planner.path();
    let file = GgufFile::open(path).map_err(|source| CalibrationPlacementError::Model {
        path: path.display().to_string(),
        source,
    })?;
    let n_layer = ModelLayout::from_gguf(&file).n_layer as usize;
    let Some((fewest, _)) =
        best_n_cpu_moe(planner, params, ctx_params, n_layer, &budgets, reserve)?
    else {
        return Err(CalibrationPlacementError::NothingFits(budgets));
    };
    let n = fewest.max(n_layer / 2);
    let mut placements = vec![CpuMoe::All];
    if n < n_layer {
        placements.push(CpuMoe::FirstLayers(n));
    }
    Ok(placements)
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
    /// Neither a decode nor a prompt speed was given.
    #[error("no measured speed to calibrate with")]
    NoPoints,
    /// The decode speeds do not fit (points counted among them alone).
    #[error("decode items (PLACEMENT:TPS), counted from 0: {0}")]
    Decode(CalibrationError),
    /// The prompt speeds do not fit (points counted among them alone).
    #[error("prompt items (PLACEMENT@TOKENS:TPS), counted from 0: {0}")]
    Prompt(CalibrationError),
}

/// The planner's reference speed model with its host decode constants
/// fitted to `points.decode` and its routing spread to `points.prompt`
/// (either may be empty, not both), measured with the model at `path` on
/// this machine.
pub fn calibrated_speed_model(
    path: &Path,
    points: &CalibrationPoints,
) -> Result<SpeedModel, CalibrateError> {
    if points.decode.is_empty() && points.prompt.is_empty() {
        return Err(CalibrateError::NoPoints);
    }
    let file = GgufFile::open(path).map_err(|source| CalibrateError::Model {
        path: path.display().to_string(),
        source,
    })?;
    let layout = ModelLayout::from_gguf(&file);
    let mut speed = SpeedModel::default();
    if !points.decode.is_empty() {
        speed =
            (speed.calibrate_decode(&layout, &points.decode)).map_err(CalibrateError::Decode)?;
    }
    if !points.prompt.is_empty() {
        speed =
            (speed.calibrate_prompt(&layout, &points.prompt)).map_err(CalibrateError::Prompt)?;
    }
    Ok(speed)
}

/// The GPU bytes of a dry run: every device but the host.
pub fn gpu_bytes(dry_run: &DryRunBytes) -> Vec<(String, u64)> {
    dry_run
        .iter()
        .filter(|(d, _)| *d != "CPU")
        .map(|(d, b)| (d.clone(), b.total()))
        .collect()
}

/// Whether every GPU of a dry run (`gpus`, from [`gpu_bytes`]) and `reserve`
/// fit its budget, and every budget has its GPU. By name: the dry run lists
/// devices sorted by name and the budgets come in the loader's order, which
/// differ from the eleventh GPU on (`CUDA10` sorts before `CUDA2`).
fn fits_budgets(gpus: &[(String, u64)], budgets: &[(String, u64)], reserve: u64) -> bool {
    gpus.len() == budgets.len()
        && gpus.iter().all(|(gpu, used)| {
            budgets
                .iter()
                .any(|(name, max)| name == gpu && used + reserve <= *max)
        })
}

/// The smallest `n` whose `--n-cpu-moe n` fits every GPU within its budget
/// in `budgets` (by name, as [`Planner::budget_bytes`] gives them) less
/// `reserve` (the planner's reserve makes the comparison fair), by
/// llama.cpp's dry-run accounting: the fastest
/// hand-picked placement for that budget, since more host layers never
/// decode faster. VRAM falls as `n` grows, so a bisection finds it in about
/// log2(layers) dry runs. `None` when not even every layer on the host fits.
pub fn best_n_cpu_moe(
    planner: &Planner,
    params: &LlamaModelParams,
    ctx_params: &LlamaContextParams,
    n_layer: usize,
    budgets: &[(String, u64)],
    reserve: u64,
) -> Result<Option<(usize, DryRunBytes)>, PlanError> {
    let fits = |n: usize| -> Result<Option<DryRunBytes>, PlanError> {
        let bytes = planner.dry_run(&params.clone().with_n_cpu_moe(n), ctx_params)?;
        let ok = fits_budgets(&gpu_bytes(&bytes), budgets, reserve);
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
    fn budgets_are_matched_to_gpus_by_name_not_position() {
        let named = |items: &[(&str, u64)]| -> Vec<(String, u64)> {
            items.iter().map(|&(n, b)| (n.to_owned(), b)).collect()
        };
        // The loader's order, with the eleventh GPU small.
        let mut budgets: Vec<_> = (0..11).map(|i| (format!("CUDA{i}"), 8 << 30)).collect();
        budgets[10].1 = 2 << 30;
        // A dry run's order (sorted by name): CUDA10 comes third.
        let mut gpus: Vec<_> = (0..11).map(|i| (format!("CUDA{i}"), 3 << 30)).collect();
        gpus.sort();
        assert_eq!(gpus[2].0, "CUDA10");
        gpus[2].1 = 1 << 30;
        assert!(fits_budgets(&gpus, &budgets, 0));
        // By position, CUDA10's 2 GiB budget would have met CUDA2's 3 GiB.
        gpus[2].1 = 3 << 30;
        assert!(!fits_budgets(&gpus, &budgets, 0));
        // The reserve counts on every GPU; a GPU without a budget never fits.
        let one = named(&[("CUDA0", 8 << 30)]);
        assert!(fits_budgets(&named(&[("CUDA0", 7 << 30)]), &one, 1 << 30));
        assert!(!fits_budgets(
            &named(&[("CUDA0", 7 << 30)]),
            &one,
            (1 << 30) + 1
        ));
        assert!(!fits_budgets(&named(&[("CUDA1", 1)]), &one, 0));
        assert!(!fits_budgets(
            &named(&[("CUDA0", 1), ("CUDA1", 1)]),
            &one,
            0
        ));
    }

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
    fn calibration_text_reads_back_as_the_rows_it_was_made_of() {
        let rows = [
            MeasuredRow {
                placement: CpuMoe::All,
                prompt_tokens: 512,
                prompt_tps: 6180.064,
                decode_tps: 35.626,
            },
            MeasuredRow {
                placement: CpuMoe::FirstLayers(24),
                prompt_tokens: 512,
                prompt_tps: 8058.84,
                decode_tps: 61.6,
            },
        ];
        let text = calibration_text(&rows, ',');
        assert_eq!(text, "all:35.63,24:61.60,all@512:6180.06,24@512:8058.84");
        assert_eq!(calibration_text(&rows, ';'), text.replace(',', ";"));
        assert_eq!(
            parse_calibration(&text, 2048).unwrap(),
            CalibrationPoints {
                decode: vec![
                    DecodePoint::cpu_moe(35.63),
                    DecodePoint::n_cpu_moe(24, 61.6)
                ],
                prompt: vec![
                    PromptPoint::cpu_moe(512, 2048, 6180.06),
                    PromptPoint::n_cpu_moe(24, 512, 2048, 8058.84),
                ],
            }
        );
        assert_eq!(calibration_text(&[], ','), "");
    }

    #[test]
    fn calibration_items_parse_as_decode_and_prompt_points() {
        assert_eq!(
            parse_calibration("all:33.1;12:60.2", 2048).unwrap(),
            CalibrationPoints {
                decode: vec![DecodePoint::cpu_moe(33.1), DecodePoint::n_cpu_moe(12, 60.2)],
                prompt: Vec::new(),
            }
        );
        assert_eq!(
            parse_calibration("7:76.1,all:30", 512).unwrap().decode,
            [DecodePoint::n_cpu_moe(7, 76.1), DecodePoint::cpu_moe(30.0)]
        );
        // Prompt items carry the prompt's length and the caller's ubatch,
        // in any order among decode items.
        assert_eq!(
            parse_calibration("all@512:6598;all:39.56; 24 @ 512 : 8041,12:51.48", 2048).unwrap(),
            CalibrationPoints {
                decode: vec![
                    DecodePoint::cpu_moe(39.56),
                    DecodePoint::n_cpu_moe(12, 51.48)
                ],
                prompt: vec![
                    PromptPoint::cpu_moe(512, 2048, 6598.0),
                    PromptPoint::n_cpu_moe(24, 512, 2048, 8041.0),
                ],
            }
        );
        assert_eq!(
            parse_calibration("all@4096:2100.5", 512).unwrap(),
            CalibrationPoints {
                decode: Vec::new(),
                prompt: vec![PromptPoint::cpu_moe(4096, 512, 2100.5)],
            }
        );
        for bad in [
            "",
            "all",
            "all:",
            "x:3",
            "-1:30",
            "12:fast",
            "all:33.1;",
            "all@:6598",
            "all@512",
            "all@-512:6598",
            "all@5.5:6598",
            "all@512@512:6598",
            "@512:6598",
            "x@512:6598",
            "all@512:fast",
            "all:33.1;all@512:",
        ] {
            let err = parse_calibration(bad, 2048).unwrap_err();
            // The error names the offending item, not the whole text.
            assert!(
                bad.split([';', ',']).any(|item| item == err.value),
                "{bad}: {err}"
            );
        }
    }

    /// A GGUF of two MoE layers, 4 experts of which 1 is used, 256 KiB of
    /// zeros per expert matrix: all that calibration reads of a model.
    fn moe_file(tag: &str) -> std::path::PathBuf {
        use llama_cpp::gguf::{GgmlType, GgufValue, GgufWriter};
        let mut w = GgufWriter::new();
        w.set("general.architecture", GgufValue::String("qwen3moe".into()));
        for (key, value) in [
            ("block_count", 2),
            ("expert_count", 4),
            ("expert_used_count", 1),
        ] {
            w.set(format!("qwen3moe.{key}"), GgufValue::U32(value));
        }
        for layer in 0..2 {
            for part in ["gate", "up", "down"] {
                let name = format!("blk.{layer}.ffn_{part}_exps.weight");
                w.add_tensor(name, &[128, 128, 4], GgmlType::F32).unwrap();
            }
        }
        let path =
            std::env::temp_dir().join(format!("planning-calib-{}-{tag}.gguf", std::process::id()));
        let out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        w.write(out, |_, info, out| {
            out.write_all(&vec![0; info.n_bytes() as usize])
        })
        .unwrap();
        path
    }

    #[test]
    fn decode_items_fit_the_host_and_prompt_items_the_routing_spread() {
        let path = moe_file("fit");
        let reference = SpeedModel::default();
        let model =
            |text: &str| calibrated_speed_model(&path, &parse_calibration(text, 512).unwrap());
        // Decode alone: a slower host, the prompt side untouched.
        let decode = model("all:30").unwrap();
        assert!(decode.host_decode_bandwidth < reference.host_decode_bandwidth);
        assert_eq!(decode.routing_spread, 1.0);
        // Prompt alone: faster than any routing predicts narrows the spread
        // to one token's experts (1 of 4), the decode side untouched.
        let prompt = model("all@512:1e9").unwrap();
        assert_eq!(prompt.routing_spread, 0.25);
        assert_eq!(
            SpeedModel {
                routing_spread: 1.0,
                ..prompt
            },
            reference
        );
        // Both: each fitted, neither disturbing the other.
        let both = model("all:30;all@512:1e9").unwrap();
        assert_eq!(both.routing_spread, 0.25);
        assert_eq!(both.host_decode_bandwidth, decode.host_decode_bandwidth);
        // Errors say which kind of item, counted among its kind.
        assert!(matches!(
            model("all:30;all@512:nan"),
            Err(CalibrateError::Prompt(CalibrationError::InvalidSpeed {
                index: 0,
                ..
            }))
        ));
        assert!(matches!(
            model("all@512:5000;all:30;0:30"),
            Err(CalibrateError::Decode(CalibrationError::NoHostExperts {
                index: 1
            }))
        ));
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(model("all:30"), Err(CalibrateError::Model { .. })));
    }

    #[test]
    fn no_measurement_calibrates_nothing() {
        // Refused before the model file is read.
        let err = calibrated_speed_model(
            Path::new("/nonexistent.gguf"),
            &CalibrationPoints::default(),
        )
        .unwrap_err();
        assert!(matches!(err, CalibrateError::NoPoints), "{err}");
    }
}
