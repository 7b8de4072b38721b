//! `fit=`, `ncm_fit=` and `ot_file=`: placements resolved before loading, with what
//! llama.cpp's dry run or the planner predicted.

use super::config::{context_params, Config, Predicted};
use super::Args;
use anyhow::{bail, Context as _, Result};
use llama_cpp::planner::{Budget, DeviceBytes, ExpertBiases, HostExperts, Planner, Workload};
use llama_cpp::{LlamaContextParams, LlamaModelParams, LoadMode};
use llama_cpp_rs_moe::model_params::{model_params, CpuMoe};
use llama_cpp_rs_moe::planning::{
    best_n_cpu_moe, calibrated_speed_model, parse_calibration, parse_sizes,
};

/// Turns `fit=` into the plan's overrides (and batch sizes with
/// `fit_ubatch`), and `ncm_fit=` into the smallest fitting `--n-cpu-moe N`,
/// before anything is loaded; both record their predictions.
pub(crate) fn resolve_fit(args: &Args, config: &mut Config) -> Result<()> {
    let base = model_params(config.n_gpu_layers, config.mmap, config.cpu_moe);
    let planner = Planner::new(&args.model).workload(Workload {
        prompt_tokens: config.prompt as u32,
        generated_tokens: config.gen as u32,
    });
    if let Some(text) = config.fit.clone() {
        let budget_bytes = parse_sizes(&text)?;
        let mut ctx_params = context_params(config);
        if config.fit_ubatch {
            // llama.cpp's defaults mean "unset": the planner picks them.
            let defaults = LlamaContextParams::default();
            ctx_params = ctx_params
                .with_n_batch(defaults.n_batch())
                .with_n_ubatch(defaults.n_ubatch());
        }
        let biases = if config.fit_bias_gpu {
            ExpertBiases::Gpu
        } else {
            ExpertBiases::FollowMatrices
        };
        let mut planner = planner
            .budget(Budget::bytes_per_device(budget_bytes.clone()))
            .expert_biases(biases)
            .expert_order(config.fit_order);
        if let Some(calib) = &config.fit_calib {
            // Prompt items were measured in this configuration's ubatches
            // (the example default, 2,048, in scripts/gpu/run.sh's calib).
            let points = parse_calibration(calib, config.ubatch.min(config.batch))?;
            let speed = calibrated_speed_model(&args.model, &points)?;
            eprintln!(
                "== {}: speed model calibrated on {calib}: {speed:?} ==",
                config.name
            );
            planner = planner.speed_model(speed);
        }
        // The example's default (999, every layer) leaves n_gpu_layers to the
        // planner, as llama.cpp's default does; an explicit ngl= is kept.
        let plan_base = if config.n_gpu_layers == 999 {
            let load_mode = if config.mmap {
                LoadMode::Mmap
            } else {
                LoadMode::Read
            };
            let params = LlamaModelParams::default().with_load_mode(load_mode);
            match config.cpu_moe {
                Some(moe) => moe.apply(params),
                None => params,
            }
        } else {
            base
        };
        let plan = planner.plan(&plan_base, &ctx_params)?;
        eprintln!("== plan for {} ({text}) ==\n{plan}", config.name);
        if let Some(n) = plan.n_gpu_layers {
            config.n_gpu_layers = n;
        }
        config.plan_overrides = plan
            .overrides
            .iter()
            .map(|p| (p.clone(), "CPU".into()))
            .collect();
        if let (Some(batch), Some(ubatch)) = (plan.n_batch, plan.n_ubatch) {
            (config.batch, config.ubatch) = (batch, ubatch);
        }
        // With n_gpu_layers lowered, the first layers ran on the CPU whole,
        // which a re-prediction from host experts alone does not count; with
        // no GPU there is nothing to re-predict.
        config.planned = (plan.n_gpu_layers.is_none() && !plan.devices.is_empty())
            .then(|| (HostExperts::of_plan(&plan), plan.shape.2));
        config.predicted = Some(Predicted {
            budget_bytes,
            devices: plan
                .devices
                .iter()
                .map(|d| (d.name.clone(), parts(d.bytes)))
                .collect(),
            reserve_bytes: plan.devices.first().map_or(0, |d| d.reserve),
            prompt_tps: Some(plan.speed.prompt_tps),
            decode_tps: Some(plan.speed.decode_tps),
            reasons: plan.reasons.clone(),
            repredicted: None,
        });
    } else if let Some(path) = config.ot_file.clone() {
        // llama.cpp's fit: "n_gpu_layers N" and "ot PATTERN=BUFFER_TYPE" lines.
        let text = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
        for line in text.lines() {
            if let Some(spec) = line.strip_prefix("ot ") {
                let (pattern, buffer_type) = spec.rsplit_once('=').context("ot PATTERN=BUFT")?;
                config
                    .plan_overrides
                    .push((pattern.to_owned(), buffer_type.to_owned()));
            } else if let Some(n) = line.strip_prefix("n_gpu_layers ") {
                // -1 (all) stays the config's 999.
                if let Ok(n @ 0..) = n.trim().parse::<i32>() {
                    config.n_gpu_layers = n as u32;
                }
            } else if line.starts_with("status ") && line != "status 0" {
                bail!("{}: llama.cpp's fit failed ({line})", path.display());
            }
        }
    } else if let Some(text) = config.ncm_fit.clone() {
        // Named and counted against the GPUs as the planner's own budget is,
        // so the comparison with `fit=` is of the same budget.
        let planner = planner.budget(Budget::bytes_per_device(parse_sizes(&text)?));
        let budgets = planner.budget_bytes(&base)?;
        if budgets.is_empty() {
            bail!("{}: ncm_fit={text} needs a GPU to fit", config.name);
        }
        // Layers counted as planning counts them, so N ranges over the same layers.
        let header = llama_cpp::gguf::GgufFile::open(&args.model)?;
        let n_layer = llama_cpp::planner::ModelLayout::from_gguf(&header).n_layer as usize;
        let ctx_params = context_params(config);
        // The planner's reserve for this configuration's ubatches.
        let reserve = planner.reserve_for(ctx_params.n_ubatch().min(ctx_params.n_batch()));
        let found = best_n_cpu_moe(&planner, &base, &ctx_params, n_layer, &budgets, reserve)?;
        let Some((n, bytes)) = found else {
            bail!("{}: no --n-cpu-moe N fits {text}", config.name);
        };
        eprintln!(
            "== {}: --n-cpu-moe {n} is the smallest N that fits {text} ==",
            config.name
        );
        config.cpu_moe = Some(CpuMoe::FirstLayers(n));
        config.predicted = Some(Predicted {
            budget_bytes: budgets.iter().map(|(_, b)| *b).collect(),
            devices: bytes
                .into_iter()
                .filter(|(d, _)| d != "CPU")
                .map(|(d, b)| (d, parts(b)))
                .collect(),
            reserve_bytes: reserve,
            prompt_tps: None,
            decode_tps: None,
            reasons: vec![format!(
                "--n-cpu-moe {n}: the smallest N within the budget less the planner's reserve"
            )],
            repredicted: None,
        });
    }
    Ok(())
}

pub(crate) fn parts(bytes: DeviceBytes) -> [u64; 3] {
    [bytes.weights, bytes.kv, bytes.compute]
}
