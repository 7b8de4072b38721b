//! A `--config NAME:key=value,...` row of bench_moe: what it sets and how it becomes
//! model and context params.

use super::Args;
use anyhow::{bail, Context as _, Result};
use llama_cpp::planner::{ExpertOrder, HostExperts};
use llama_cpp::{
    CpuThreadPool, FlashAttention, LlamaContextParams, ThreadPoolSettings, ThreadPriority,
};
use llama_cpp_rs_moe::defaults::{self, ContextSettings};
use llama_cpp_rs_moe::model_params::CpuMoe;
use serde::{Serialize, Serializer};
use std::ops::RangeInclusive;
use std::path::PathBuf;

/// The names the `pool=`, `fa=` and `prio=` keys take, and the JSON report writes.
const POOLS: [(&str, CpuThreadPool); 2] = [
    ("context", CpuThreadPool::PerContext),
    ("graph", CpuThreadPool::PerGraph),
];
const FLASH_ATTENTION: [(&str, FlashAttention); 3] = [
    ("auto", FlashAttention::Auto),
    ("on", FlashAttention::Enabled),
    ("off", FlashAttention::Disabled),
];
const PRIORITIES: [(&str, ThreadPriority); 5] = [
    ("low", ThreadPriority::Low),
    ("normal", ThreadPriority::Normal),
    ("medium", ThreadPriority::Medium),
    ("high", ThreadPriority::High),
    ("realtime", ThreadPriority::Realtime),
];
const ORDERS: [(&str, ExpertOrder); 3] = [
    ("workload", ExpertOrder::ByWorkload),
    ("last", ExpertOrder::LastLayers),
    ("first", ExpertOrder::FirstLayers),
];

/// The value named `text` in `table`.
fn by_name<T: Copy>(key: &str, table: &[(&str, T)], text: &str) -> Result<T> {
    match table.iter().find(|(name, _)| *name == text) {
        Some(&(_, value)) => Ok(value),
        None => {
            let names: Vec<_> = table.iter().map(|(name, _)| *name).collect();
            bail!("{key}: {text:?} is not one of {}", names.join(", "))
        }
    }
}

/// The name of `value` in `table`.
pub(crate) fn name_of<T: PartialEq>(table: &[(&'static str, T)], value: &T) -> &'static str {
    table
        .iter()
        .find(|(_, v)| v == value)
        .map_or("?", |(name, _)| name)
}

pub(crate) fn pool_name(pool: &CpuThreadPool) -> &'static str {
    name_of(&POOLS, pool)
}

pub(crate) fn fa_name(fa: &FlashAttention) -> &'static str {
    name_of(&FLASH_ATTENTION, fa)
}

fn ser_pool<S: Serializer>(pool: &CpuThreadPool, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(pool_name(pool))
}

fn ser_fa<S: Serializer>(fa: &FlashAttention, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(fa_name(fa))
}

fn ser_prio<S: Serializer>(prio: &Option<ThreadPriority>, s: S) -> Result<S::Ok, S::Error> {
    match prio {
        Some(p) => s.serialize_str(name_of(&PRIORITIES, p)),
        None => s.serialize_none(),
    }
}

fn ser_order<S: Serializer>(order: &ExpertOrder, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(name_of(&ORDERS, order))
}

/// `A-B`, as given.
fn ser_cpus<S: Serializer>(cpus: &Option<RangeInclusive<usize>>, s: S) -> Result<S::Ok, S::Error> {
    match cpus {
        Some(r) => s.serialize_str(&format!("{}-{}", r.start(), r.end())),
        None => s.serialize_none(),
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Config {
    pub(crate) name: String,
    pub(crate) n_gpu_layers: u32,
    pub(crate) cpu_moe: Option<CpuMoe>,
    pub(crate) mmap: bool,
    pub(crate) threads: i32,
    pub(crate) batch: u32,
    pub(crate) ubatch: u32,
    pub(crate) op_offload: bool,
    #[serde(serialize_with = "ser_pool")]
    pub(crate) thread_pool: CpuThreadPool,
    #[serde(serialize_with = "ser_fa")]
    pub(crate) flash_attention: FlashAttention,
    /// Context length; `None`: prompt + gen + 16.
    pub(crate) n_ctx: Option<u32>,
    pub(crate) n_outputs_max: u32,
    pub(crate) swa_full: bool,
    /// moe_offload's context defaults (src/defaults.rs).
    pub(crate) example_defaults: bool,
    /// Measured runs per loop.
    pub(crate) runs: usize,
    pub(crate) prompt: usize,
    pub(crate) gen: usize,
    /// VRAM budget per GPU for the placement planner (`fit=`), as given.
    pub(crate) fit: Option<String>,
    /// The planner chooses n_batch / n_ubatch too.
    pub(crate) fit_ubatch: bool,
    /// Thread-pool polling level (ggml's default 50 when unset).
    pub(crate) poll: Option<u32>,
    /// Thread-pool priority.
    #[serde(serialize_with = "ser_prio")]
    pub(crate) prio: Option<ThreadPriority>,
    /// The pool's CPUs, `A-B`.
    #[serde(serialize_with = "ser_cpus")]
    pub(crate) cpus: Option<RangeInclusive<usize>>,
    /// One CPU per worker (with `cpus`).
    pub(crate) strict: bool,
    /// Host weights may use the GPU's pinned host buffer type (llama.cpp's default).
    pub(crate) host_buffers: bool,
    /// Host weights may use the CPU repack buffer types (llama.cpp's default).
    pub(crate) repack: bool,
    /// The planner keeps expert biases on the GPU (`fit_bias_gpu=1`).
    pub(crate) fit_bias_gpu: bool,
    /// Which layers' experts the planner moves first (`fit_order=workload|first|last`;
    /// by the row's prompt and gen by default).
    #[serde(serialize_with = "ser_order")]
    pub(crate) fit_order: ExpertOrder,
    /// Measured decode and prompt speeds that calibrate the planner
    /// (`fit_calib=`), as given.
    pub(crate) fit_calib: Option<String>,
    /// VRAM budget for the best fitting `--n-cpu-moe N` (`ncm_fit=`).
    pub(crate) ncm_fit: Option<String>,
    /// `PATTERN=BUFFER_TYPE` lines from llama.cpp's fit (`ot_file=`, written by
    /// scripts/gpu/fit_harness.cpp).
    pub(crate) ot_file: Option<PathBuf>,
    /// Overrides `(pattern, buffer type)` after resolving `fit` or `ot_file`.
    pub(crate) plan_overrides: Vec<(String, String)>,
    /// What the planner or the dry run predicted, next to what is measured.
    pub(crate) predicted: Option<Predicted>,
    /// The plan's host experts and ubatch (`fit` rows whose plan kept every
    /// layer on the GPU), to re-predict with a later calibration.
    #[serde(skip)]
    pub(crate) planned: Option<(HostExperts, u32)>,
}

/// Predictions made before loading, to set against the measurements.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Predicted {
    pub(crate) budget_bytes: Vec<u64>,
    /// llama.cpp's dry-run accounting per device: [weights, KV, compute].
    pub(crate) devices: Vec<(String, [u64; 3])>,
    /// Kept free per GPU beside the buffers (the planner's reserve): the
    /// predicted peak is the buffers plus this.
    pub(crate) reserve_bytes: u64,
    /// The planner's speed prediction (`fit` only).
    pub(crate) prompt_tps: Option<f64>,
    pub(crate) decode_tps: Option<f64>,
    pub(crate) reasons: Vec<String>,
    /// The plan's speed with the planner calibrated on the `--cpu-moe` and
    /// `--n-cpu-moe N` rows of the same turns (`--interleave`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) repredicted: Option<Repredicted>,
}

/// A plan's speed predicted again after its runs, with constants calibrated
/// in the same minutes.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Repredicted {
    /// The calibration points, as `fit_calib=` takes them.
    pub(crate) calibration: String,
    pub(crate) prompt_tps: f64,
    pub(crate) decode_tps: f64,
}

impl Config {
    /// What decides the loaded model (the rest is per context).
    pub(crate) fn model_key(&self) -> ModelKey {
        (
            self.n_gpu_layers,
            self.cpu_moe,
            (self.mmap, self.host_buffers, self.repack),
            self.plan_overrides.clone(),
        )
    }
}

/// What a loaded model depends on: layers, MoE placement, (mmap, host buffers, repack),
/// overrides.
pub(crate) type ModelKey = (
    u32,
    Option<CpuMoe>,
    (bool, bool, bool),
    Vec<(String, String)>,
);

pub(crate) fn parse_config(spec: &str, args: &Args, threads: i32) -> Result<Config> {
    let (name, rest) = spec.split_once(':').unwrap_or((spec, ""));
    let mut config = Config {
        name: name.to_owned(),
        n_gpu_layers: 999,
        cpu_moe: None,
        mmap: false,
        threads,
        batch: 2048,
        ubatch: 2048,
        op_offload: true,
        thread_pool: CpuThreadPool::PerContext,
        flash_attention: FlashAttention::Auto,
        n_ctx: None,
        n_outputs_max: 0,
        swa_full: true,
        example_defaults: false,
        runs: args.runs,
        prompt: args.prompt,
        gen: args.gen,
        fit: None,
        fit_calib: None,
        fit_ubatch: false,
        fit_bias_gpu: false,
        fit_order: ExpertOrder::default(),
        poll: None,
        prio: None,
        cpus: None,
        strict: false,
        host_buffers: true,
        repack: true,
        ncm_fit: None,
        ot_file: None,
        plan_overrides: Vec::new(),
        predicted: None,
        planned: None,
    };
    for pair in rest.split(',').filter(|p| !p.is_empty()) {
        let (key, value) = pair
            .split_once('=')
            .with_context(|| format!("{spec}: expected key=value, got {pair:?}"))?;
        let flag = || value == "1" || value == "true";
        match key {
            "ngl" => config.n_gpu_layers = value.parse()?,
            "moe" => config.cpu_moe = Some(value.parse().with_context(|| format!("{spec}: moe"))?),
            "mmap" => config.mmap = flag(),
            "threads" => config.threads = value.parse()?,
            "batch" => config.batch = value.parse()?,
            "ubatch" => config.ubatch = value.parse()?,
            "op_offload" => config.op_offload = flag(),
            "pool" => config.thread_pool = by_name(key, &POOLS, value)?,
            "fa" => config.flash_attention = by_name(key, &FLASH_ATTENTION, value)?,
            "ctx" => config.n_ctx = Some(value.parse()?),
            "outputs" => config.n_outputs_max = value.parse()?,
            "swa_full" => config.swa_full = flag(),
            "runs" => config.runs = value.parse()?,
            "example" => {
                config.example_defaults = flag();
                if config.example_defaults {
                    (
                        config.batch,
                        config.ubatch,
                        config.n_outputs_max,
                        config.swa_full,
                    ) = (
                        defaults::N_BATCH,
                        defaults::N_UBATCH,
                        defaults::N_OUTPUTS_MAX,
                        defaults::SWA_FULL,
                    );
                    config.n_ctx = config.n_ctx.or(Some(defaults::N_CTX));
                }
            }
            "prompt" => config.prompt = value.parse()?,
            "gen" => config.gen = value.parse()?,
            // `;` separates per-GPU sizes: `,` separates keys.
            "fit" => config.fit = Some(value.replace(';', ",")),
            "fit_ubatch" => config.fit_ubatch = flag(),
            "fit_bias_gpu" => config.fit_bias_gpu = flag(),
            // The planner's default since the H200 rows of 2026-12-02.
            "fit_bias_host" => config.fit_bias_gpu = !flag(),
            "fit_calib" => config.fit_calib = Some(value.to_owned()),
            "fit_order" => config.fit_order = by_name(key, &ORDERS, value)?,
            "ncm_fit" => config.ncm_fit = Some(value.replace(';', ",")),
            "ot_file" => config.ot_file = Some(PathBuf::from(value)),
            "poll" => config.poll = Some(value.parse()?),
            "prio" => config.prio = Some(by_name(key, &PRIORITIES, value)?),
            "cpus" => config.cpus = Some(cpu_range(value)?),
            "strict" => config.strict = flag(),
            "host_buffers" => config.host_buffers = flag(),
            "repack" => config.repack = flag(),
            other => bail!("{spec}: unknown key {other:?}"),
        }
    }
    Ok(config)
}

/// `A-B` (inclusive) or a single CPU index.
fn cpu_range(text: &str) -> Result<RangeInclusive<usize>> {
    let (a, b) = text.split_once('-').unwrap_or((text, text));
    let (a, b): (usize, usize) = (a.parse()?, b.parse()?);
    if a > b {
        bail!("cpus: {text:?} is an empty range");
    }
    Ok(a..=b)
}

pub(crate) fn thread_pool_settings(config: &Config) -> ThreadPoolSettings {
    let mut settings = ThreadPoolSettings::default();
    if let Some(poll) = config.poll {
        settings = settings.with_poll(poll);
    }
    if let Some(prio) = config.prio {
        settings = settings.with_priority(prio);
    }
    if let Some(cpus) = config.cpus.clone() {
        settings = settings.with_cpus(cpus.collect(), config.strict);
    }
    settings
}

/// The context params of a configuration.
pub(crate) fn context_params(config: &Config) -> LlamaContextParams {
    let settings = ContextSettings {
        n_ctx: config
            .n_ctx
            .unwrap_or((config.prompt + config.gen + 16) as u32),
        n_batch: config.batch,
        n_ubatch: config.ubatch,
        threads: config.threads,
        n_outputs_max: config.n_outputs_max,
        swa_full: config.swa_full,
    };
    settings
        .params()
        .with_op_offload(config.op_offload)
        .with_cpu_thread_pool(config.thread_pool)
        .with_thread_pool_settings(thread_pool_settings(config))
        .with_flash_attention(config.flash_attention)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(spec: &str) -> Result<Config> {
        let args = Args::parse_from(["bench_moe", "--model", "m.gguf", "--config", spec]);
        parse_config(spec, &args, 4)
    }

    #[test]
    fn the_planner_order_is_named_in_the_config_and_its_json() -> Result<()> {
        assert_eq!(parse("a:fit=8GiB")?.fit_order, ExpertOrder::ByWorkload);
        let first = parse("a:fit=8GiB,fit_order=first")?;
        assert_eq!(first.fit_order, ExpertOrder::FirstLayers);
        assert_eq!(serde_json::to_value(&first)?["fit_order"], "first");
        let err = parse("a:fit_order=middle").unwrap_err().to_string();
        assert!(err.contains("workload, last, first"), "{err}");
        let last = parse("a:fit=8GiB,fit_order=last")?;
        assert_eq!(serde_json::to_value(&last)?["fit_order"], "last");
        Ok(())
    }
}
