//! llama-cpp-2 prints `ctx.timings()`: the same lines for this crate's [`PerfContextData`].

use crate::PerfContextData;
use std::fmt;

impl fmt::Display for PerfContextData {
    /// llama-cpp-2's `LlamaTimings` lines, less the load time this type does not carry. An
    /// empty count prints NaN or infinite rates rather than failing.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rates = |ms: f64, n: i32| (ms / f64::from(n), 1e3 / ms * f64::from(n));
        let (ms_per, per_s) = rates(self.t_p_eval_ms, self.n_p_eval);
        writeln!(
            f,
            "prompt eval time = {:.2} ms / {} tokens ({ms_per:.2} ms per token, \
             {per_s:.2} tokens per second)",
            self.t_p_eval_ms, self.n_p_eval
        )?;
        let (ms_per, per_s) = rates(self.t_eval_ms, self.n_eval);
        writeln!(
            f,
            "eval time = {:.2} ms / {} runs ({ms_per:.2} ms per token, \
             {per_s:.2} tokens per second)",
            self.t_eval_ms, self.n_eval
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::PerfContextData;

    #[test]
    fn prints_counts_and_rates() {
        let data = PerfContextData {
            t_p_eval_ms: 10.0,
            t_eval_ms: 0.0,
            n_p_eval: 5,
            n_eval: 0,
        };
        let text = data.to_string();
        let prompt = "prompt eval time = 10.00 ms / 5 tokens (2.00 ms per token";
        assert!(text.contains(prompt), "{text}");
        assert!(text.contains("eval time = 0.00 ms / 0 runs"), "{text}");
    }
}
