//! Measurement helpers: summary statistics, process and device memory, greedy runs.

use llama_cpp::{
    list_llama_ggml_backend_devices, AddBos, LlamaBatch, LlamaContext, LlamaSampler, LlamaToken,
    Result,
};
use std::time::{Duration, Instant};

/// Mean, sample standard deviation, min and max of a series.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Number of samples.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (n - 1); 0 for one sample.
    pub sd: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
}

impl Summary {
    /// Summarises `samples`; `None` when empty.
    pub fn of(samples: &[f64]) -> Option<Self> {
        let n = samples.len();
        if n == 0 {
            return None;
        }
        let mean = samples.iter().sum::<f64>() / n as f64;
        let var = if n > 1 {
            samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64
        } else {
            0.0
        };
        let min = samples.iter().copied().fold(f64::INFINITY, f64::min);
        let max = samples.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some(Self {
            n,
            mean,
            sd: var.sqrt(),
            min,
            max,
        })
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.2} ± {:.2} (min {:.2}, max {:.2}, n={})",
            self.mean, self.sd, self.min, self.max, self.n
        )
    }
}

/// The `q`-quantile (0..=1) by linear interpolation; `None` when empty.
pub fn percentile(samples: &[f64], q: f64) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64))
}

/// The benchmarks' prompt: `len` valid, non-special token ids of a vocabulary
/// of `n_vocab`, the same on every run, spread over the vocabulary (a
/// stride of 7,919, a prime) so that a model sees many different tokens.
pub fn bench_prompt(n_vocab: i32, len: usize) -> Vec<LlamaToken> {
    // The last 16 ids are left out: vocabularies end in special tokens.
    let span = i64::from(n_vocab.saturating_sub(16).max(1));
    (0..len)
        .map(|i| LlamaToken(((i as i64 * 7919 + 13) % span) as i32))
        .collect()
}

/// Physical cores (unique `physical id`/`core id` pairs of /proc/cpuinfo,
/// at most the logical CPUs available); the logical count where /proc is
/// missing. llama.cpp's C default of 4 threads cost 2.6x decode speed with
/// experts on a 16-core host (docs/BENCHMARKS.md).
pub fn physical_cores() -> i32 {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let mut cores = std::collections::BTreeSet::new();
    let mut physical = "";
    for line in cpuinfo.lines() {
        let mut kv = line.splitn(2, ':').map(str::trim);
        match (kv.next(), kv.next()) {
            (Some("physical id"), Some(v)) => physical = v,
            (Some("core id"), Some(v)) => {
                cores.insert((physical, v));
            }
            _ => {}
        }
    }
    let logical = std::thread::available_parallelism().map_or(4, |n| n.get());
    if cores.is_empty() {
        logical as i32
    } else {
        cores.len().min(logical) as i32
    }
}

/// Resident and peak resident memory of this process, from /proc (Linux).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProcessMemory {
    /// VmRSS in bytes.
    pub rss: u64,
    /// VmHWM (peak RSS) in bytes.
    pub peak_rss: u64,
}

impl ProcessMemory {
    /// Reads /proc/self/status; zeros where unavailable.
    pub fn read() -> Self {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map_or(0, |kib| kib * 1024)
        };
        Self {
            rss: field("VmRSS:"),
            peak_rss: field("VmHWM:"),
        }
    }

    /// Lowers the peak (VmHWM) to the current RSS, so that the next
    /// [`read`](Self::read) reports the peak of what ran in between rather
    /// than the process's whole life (a second configuration in one process
    /// would otherwise inherit the first one's peak). Linux ≥ 4.0
    /// (`/proc/self/clear_refs` "5"); returns false where unavailable, and the
    /// peak then stays process-wide.
    pub fn reset_peak() -> bool {
        std::fs::write("/proc/self/clear_refs", "5").is_ok()
    }
}

/// Free and total memory of one ggml device, as its backend reports them
/// (CUDA: `cudaMemGetInfo`; CPU: the host's memory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceFreeMemory {
    /// The device's ggml name (`CUDA0`, `CPU`, ...).
    pub name: String,
    /// Free bytes now.
    pub free: u64,
    /// Total bytes.
    pub total: u64,
}

impl DeviceFreeMemory {
    /// Every device, now. Differences between two readings are what a load
    /// or a context really took, including what llama.cpp's buffer
    /// accounting does not see (CUDA's own pools, cuBLAS workspaces).
    pub fn read_all() -> Vec<Self> {
        list_llama_ggml_backend_devices()
            .into_iter()
            .map(|d| Self {
                name: d.name,
                free: d.memory_free as u64,
                total: d.memory_total as u64,
            })
            .collect()
    }

    /// Bytes each device lost from `before` to `after`, two readings of
    /// [`read_all`](Self::read_all); negative where memory came back.
    pub fn used_between(before: &[Self], after: &[Self]) -> Vec<(String, i64)> {
        before
            .iter()
            .zip(after)
            .map(|(b, a)| (b.name.clone(), b.free as i64 - a.free as i64))
            .collect()
    }
}

/// One generation: the tokens and when each became available.
#[derive(Debug, Clone)]
pub struct Generation {
    /// Prompt length in tokens.
    pub n_prompt: usize,
    /// Generated tokens, in order.
    pub tokens: Vec<LlamaToken>,
    /// Time from the request start to the end of the prompt decode.
    pub prompt_time: Duration,
    /// Time from the request start to each generated token being sampled.
    pub token_times: Vec<Duration>,
    /// Logits of the first generated position (after the prompt).
    pub first_logits: Vec<f32>,
}

impl Generation {
    /// Time to first token: request start to the first sampled token.
    pub fn ttft(&self) -> Option<Duration> {
        self.token_times.first().copied()
    }

    /// Prompt tokens per second.
    pub fn prompt_tps(&self) -> f64 {
        self.n_prompt as f64 / self.prompt_time.as_secs_f64()
    }

    /// Decode tokens per second over the tokens after the first (each
    /// needed one decode step), from the per-token timestamps.
    pub fn decode_tps(&self) -> Option<f64> {
        let (first, last) = (self.token_times.first()?, self.token_times.last()?);
        let steps = self.token_times.len().checked_sub(1).filter(|&s| s > 0)?;
        Some(steps as f64 / (*last - *first).as_secs_f64())
    }

    /// Gaps between consecutive tokens, in milliseconds.
    pub fn inter_token_ms(&self) -> Vec<f64> {
        self.token_times
            .windows(2)
            .map(|w| (w[1] - w[0]).as_secs_f64() * 1000.0)
            .collect()
    }
}

/// Decodes `prompt` (in `n_batch`-sized chunks) and generates up to
/// `n_predict` tokens with `sampler`, stopping at end-of-generation.
/// `on_token` sees each token as soon as it is sampled (for streaming) and
/// returns `false` to stop early (e.g. on Ctrl-C).
pub fn generate(
    ctx: &mut LlamaContext<'_>,
    sampler: &mut LlamaSampler,
    prompt: &[LlamaToken],
    n_predict: usize,
    on_token: impl FnMut(LlamaToken) -> bool,
) -> Result<Generation> {
    generate_inner(ctx, sampler, prompt, n_predict, true, on_token)
}

/// [`generate`] for exactly `n_predict` tokens: end-of-generation tokens are
/// decoded like any other, so comparisons always cover the same length.
pub fn generate_exact(
    ctx: &mut LlamaContext<'_>,
    sampler: &mut LlamaSampler,
    prompt: &[LlamaToken],
    n_predict: usize,
) -> Result<Generation> {
    generate_inner(ctx, sampler, prompt, n_predict, false, |_| true)
}

/// Greedy tokens of [`generate_exact`] for each prompt, each from an empty KV
/// cache: what the equivalence tests compare between two setups.
///
/// # Errors
/// Tokenizing or decoding fails.
pub fn greedy_outputs(
    ctx: &mut LlamaContext<'_>,
    prompts: &[&str],
    n_predict: usize,
) -> Result<Vec<Vec<LlamaToken>>> {
    let model = ctx.model();
    prompts
        .iter()
        .map(|prompt| {
            ctx.clear_kv_cache();
            let tokens = model.vocab().tokenize(prompt, AddBos::Always, false)?;
            Ok(generate_exact(ctx, &mut LlamaSampler::greedy(), &tokens, n_predict)?.tokens)
        })
        .collect()
}

fn generate_inner(
    ctx: &mut LlamaContext<'_>,
    sampler: &mut LlamaSampler,
    prompt: &[LlamaToken],
    n_predict: usize,
    stop_at_eog: bool,
    mut on_token: impl FnMut(LlamaToken) -> bool,
) -> Result<Generation> {
    let start = Instant::now();
    let n_batch = ctx.n_batch() as usize;
    let mut batch = LlamaBatch::new(n_batch.max(1), 1);
    for (chunk_index, chunk) in prompt.chunks(n_batch.max(1)).enumerate() {
        batch.clear();
        let first_pos = (chunk_index * n_batch) as i32;
        for (i, &token) in chunk.iter().enumerate() {
            let last = chunk_index * n_batch + i + 1 == prompt.len();
            batch.add(token, first_pos + i as i32, &[0], last)?;
        }
        ctx.decode(&mut batch)?;
    }
    // decode returns once the GPU has its work; the prompt is done when the GPU is.
    ctx.synchronize();
    let prompt_time = start.elapsed();
    let first_logits = if prompt.is_empty() {
        Vec::new()
    } else {
        ctx.get_logits_ith(-1)?.to_vec()
    };
    let vocab = ctx.model().vocab();
    let mut tokens = Vec::with_capacity(n_predict);
    let mut token_times = Vec::with_capacity(n_predict);
    let mut pos = prompt.len() as i32;
    while tokens.len() < n_predict {
        let token = sampler.sample(ctx, -1)?;
        token_times.push(start.elapsed());
        tokens.push(token);
        let keep_going = on_token(token);
        if !keep_going || (stop_at_eog && vocab.is_eog(token)) || tokens.len() == n_predict {
            break;
        }
        batch.clear();
        batch.add(token, pos, &[0], true)?;
        pos += 1;
        ctx.decode(&mut batch)?;
    }
    Ok(Generation {
        n_prompt: prompt.len(),
        tokens,
        prompt_time,
        token_times,
        first_logits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bench_prompt_is_fixed_and_stays_below_the_special_tokens() {
        let prompt = bench_prompt(49_152, 4096);
        assert_eq!(prompt.len(), 4096);
        assert_eq!(
            &prompt[..3],
            &[LlamaToken(13), LlamaToken(7932), LlamaToken(15851)]
        );
        assert!(prompt.iter().all(|t| (0..49_152 - 16).contains(&t.0)));
        assert_eq!(prompt, bench_prompt(49_152, 4096));
        // Many different tokens, not a short cycle.
        let distinct: std::collections::BTreeSet<_> = prompt.iter().map(|t| t.0).collect();
        assert_eq!(distinct.len(), 4096);
    }

    #[test]
    fn summary_and_percentiles() {
        let s = Summary::of(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!((s.mean, s.min, s.max), (2.5, 1.0, 4.0));
        assert!((s.sd - 1.2909944).abs() < 1e-6);
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 0.5), Some(2.0));
        assert_eq!(percentile(&[0.0, 10.0], 0.95), Some(9.5));
        assert!(Summary::of(&[]).is_none());
    }
}
