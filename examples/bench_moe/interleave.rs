//! `--interleave`: every configuration loaded at once, their Rust runs taken
//! in turns. Two placements measured one after the other differ by however
//! far the host drifted in between (the H200 host's decode speed moved by
//! 10% within minutes, docs/PLANNER-BENCHMARKS.md); in turns, run i of each sees
//! about the same host, and the paired ratios show what is the placement's.

use super::calibration::calibration_points;
use super::config::{context_params, Config, Repredicted};
use super::{buffers, loop_stats, rust_run, Args, ConfigResult, LoadedModel};
use anyhow::Result;
use llama_cpp::gguf::GgufFile;
use llama_cpp::planner::{ModelLayout, Workload};
use llama_cpp::{LlamaBackend, LlamaContext};
use llama_cpp_rs_moe::measure::{bench_prompt, DeviceFreeMemory, ProcessMemory};
use llama_cpp_rs_moe::planning::{calibrated_speed_model, parse_calibration};

/// Per device, `a` plus `b` (two readings of the same devices).
fn add(a: &[(String, i64)], b: &[(String, i64)]) -> Vec<(String, i64)> {
    a.iter()
        .zip(b)
        .map(|((name, x), (_, y))| (name.clone(), x + y))
        .collect()
}

/// The order of turn `turn` over `n` configurations: each goes first in
/// every n-th turn, so none always runs right after the same other.
fn turn_order(turn: usize, n: usize) -> impl Iterator<Item = usize> {
    (0..n).map(move |k| (turn + k) % n)
}

/// Loads every distinct model, creates every context, then runs: one
/// warm-up turn, then as many measured turns as the configuration with the
/// most runs asks for (a configuration sits out the turns past its own).
pub(crate) fn run(
    backend: &LlamaBackend,
    args: &Args,
    configs: Vec<Config>,
) -> Result<Vec<ConfigResult>> {
    // Models first (contexts borrow them), each with what its load took.
    let mut models: Vec<(LoadedModel, Vec<(String, i64)>)> = Vec::new();
    let mut model_of = Vec::with_capacity(configs.len());
    for config in &configs {
        let index = match models.iter().position(|(m, _)| m.key == config.model_key()) {
            Some(index) => index,
            None => {
                let loaded = LoadedModel::load(backend, args, config)?;
                let used = DeviceFreeMemory::used_between(
                    &loaded.free_before,
                    &DeviceFreeMemory::read_all(),
                );
                models.push((loaded, used));
                models.len() - 1
            }
        };
        model_of.push(index);
    }
    let mut contexts: Vec<LlamaContext<'_>> = Vec::with_capacity(configs.len());
    let mut device_used = Vec::with_capacity(configs.len());
    for (config, &index) in configs.iter().zip(&model_of) {
        let (loaded, load_used) = &models[index];
        let before = DeviceFreeMemory::read_all();
        contexts.push(loaded.model.new_context(backend, context_params(config))?);
        let context_used = DeviceFreeMemory::used_between(&before, &DeviceFreeMemory::read_all());
        device_used.push(add(load_used, &context_used));
    }
    let prompts: Vec<_> = configs
        .iter()
        .zip(&model_of)
        .map(|(config, &index)| bench_prompt(models[index].0.model.n_vocab(), config.prompt))
        .collect();

    let turns = configs.iter().map(|c| c.runs).max().unwrap_or(0);
    let mut runs: Vec<Vec<_>> = configs.iter().map(|_| Vec::new()).collect();
    for turn in 0..=turns {
        for i in turn_order(turn, configs.len()) {
            if turn > configs[i].runs {
                continue;
            }
            let config = &configs[i];
            let r = rust_run(
                &mut contexts[i],
                &prompts[i],
                config.gen,
                config.batch as usize,
            )?;
            // Its workers would poll for a few tenths of a second on the
            // cores the next configuration's decode needs (ggml spins
            // 1024 · 128 · poll pauses after a graph): a decode after a
            // 512-token prompt, which starts sooner, ran 4–24% slower than
            // one after 4,096 tokens, every placement (docs/PLANNER-BENCHMARKS.md).
            if !args.keep_polling {
                contexts[i].pause_cpu_threads();
            }
            // Turn 0 is the warm-up.
            if turn > 0 {
                runs[i].push(r);
            }
        }
    }

    let mut results = Vec::with_capacity(configs.len());
    for (i, ((config, index), used)) in configs
        .into_iter()
        .zip(model_of)
        .zip(device_used)
        .enumerate()
    {
        let loaded = &models[index].0;
        results.push(ConfigResult {
            rust: loop_stats(&runs[i], config.prompt),
            buffers: buffers(&contexts[i])?,
            load_seconds: loaded.load_seconds,
            device_used_bytes: used,
            device_used_after_runs: None,
            rss_after_load: loaded.rss_after_load,
            rss_peak: ProcessMemory::read().peak_rss,
            c: None,
            rust_over_c_prompt: None,
            rust_over_c_decode: None,
            rust_over_c_prompt_paired_median: None,
            rust_over_c_decode_paired_median: None,
            config,
        });
    }
    repredict(args, &mut results)?;
    Ok(results)
}

/// Each plan's speed predicted again with the planner calibrated on the
/// `--cpu-moe` and `--n-cpu-moe N` rows of the same turns: what the speed
/// model gets wrong, apart from the host's drift since the calibration the
/// plan was made with.
fn repredict(args: &Args, results: &mut [ConfigResult]) -> Result<()> {
    let Some((calibration, n_ubatch)) = calibration_points(results) else {
        return Ok(());
    };
    let points = parse_calibration(&calibration, n_ubatch)?;
    let speed = calibrated_speed_model(&args.model, &points)?;
    let layout = ModelLayout::from_gguf(&GgufFile::open(&args.model)?);
    for r in results {
        let Config {
            planned: Some((host, plan_ubatch)),
            predicted: Some(predicted),
            prompt,
            gen,
            ..
        } = &mut r.config
        else {
            continue;
        };
        let workload = Workload {
            prompt_tokens: *prompt as u32,
            generated_tokens: *gen as u32,
        };
        let again = speed.predict_placement(&layout, host, *plan_ubatch, workload);
        predicted.repredicted = Some(Repredicted {
            calibration: calibration.clone(),
            prompt_tps: again.prompt_tps,
            decode_tps: again.decode_tps,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_configuration_goes_first_in_turn_and_runs_once_per_turn() {
        let orders: Vec<Vec<usize>> = (0..3).map(|t| turn_order(t, 3).collect()).collect();
        assert_eq!(orders, [[0, 1, 2], [1, 2, 0], [2, 0, 1]]);
        assert_eq!(turn_order(4, 2).collect::<Vec<_>>(), [0, 1]);
    }

    #[test]
    fn memory_adds_per_device() {
        let a = [("CUDA0".to_owned(), 5), ("CPU".to_owned(), 1)];
        let b = [("CUDA0".to_owned(), -2), ("CPU".to_owned(), 0)];
        assert_eq!(
            add(&a, &b),
            [("CUDA0".to_owned(), 3), ("CPU".to_owned(), 1)]
        );
    }
}
