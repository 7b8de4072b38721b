//! llama.cpp's `--cpu-moe` and `--n-cpu-moe n` patterns: which expert tensors
//! stay in host memory, as one override each.

/// llama.cpp's `--cpu-moe` pattern (`LLM_FFN_EXPS_REGEX` in common/common.h):
/// every expert tensor, fused `gate_up` and `chexps` included.
pub const MOE_EXPERTS_PATTERN: &str = r"\.ffn_(up|down|gate|gate_up)_(ch|)exps";

/// llama.cpp's upper bound on layers (`LLAMA_MAX_LAYERS`); no model has more.
pub const LLAMA_MAX_LAYERS: usize = 512;

/// The `--n-cpu-moe n` pattern: expert tensors of layers `0..n`, as one
/// alternation (llama.cpp's CLI adds n patterns, and its loader compiles one
/// `std::regex` per tensor per pattern). `None` for `n == 0`. Counts of
/// [`LLAMA_MAX_LAYERS`] or more select every layer.
pub fn n_cpu_moe_pattern(n: usize) -> Option<String> {
    match n {
        0 => None,
        n if n >= LLAMA_MAX_LAYERS => Some(format!(r"blk\.\d+{MOE_EXPERTS_PATTERN}")),
        n => Some(format!(
            r"blk\.({}){MOE_EXPERTS_PATTERN}",
            layer_range_alternation(n)
        )),
    }
}

/// A regex alternation matching exactly the decimal numbers `0..n` (no
/// leading zeros), grouped by decades: `0..48` gives `[0-9]|[1-3][0-9]|4[0-7]`.
fn layer_range_alternation(n: usize) -> String {
    let mut parts = Vec::new();
    let full_decades = n / 10; // decades 0..full_decades are complete
    if full_decades == 0 {
        parts.push(digit_class(0, n - 1));
    } else {
        parts.push("[0-9]".to_owned());
        // Complete decades 1.. grouped per hundred: "[1-9][0-9]", "1[0-9][0-9]", ...
        let mut decade = 1;
        while decade < full_decades {
            let hundred = decade / 10;
            let last_in_hundred = ((hundred + 1) * 10 - 1).min(full_decades - 1);
            let prefix = if hundred == 0 {
                String::new()
            } else {
                hundred.to_string()
            };
            parts.push(format!(
                "{prefix}{}[0-9]",
                digit_class(decade % 10, last_in_hundred % 10)
            ));
            decade = last_in_hundred + 1;
        }
        if n % 10 != 0 {
            parts.push(format!("{}{}", full_decades, digit_class(0, n % 10 - 1)));
        }
    }
    parts.join("|")
}

fn digit_class(first: usize, last: usize) -> String {
    if first == last {
        first.to_string()
    } else {
        format!("[{first}-{last}]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offload::TensorRegex;

    #[test]
    fn layer_alternation_matches_exactly_the_range() {
        for n in 1..=LLAMA_MAX_LAYERS - 1 {
            let re = TensorRegex::new(&format!("^({})$", layer_range_alternation(n))).unwrap();
            for i in 0..(n + 25) {
                assert_eq!(
                    re.is_match(&i.to_string()),
                    i < n,
                    "n={n} i={i} re={}",
                    re.as_str()
                );
            }
            assert!(!re.is_match("01"), "no leading zeros, n={n}");
        }
    }

    #[test]
    fn small_patterns_are_compact() {
        assert_eq!(layer_range_alternation(1), "0");
        assert_eq!(layer_range_alternation(10), "[0-9]");
        assert_eq!(layer_range_alternation(48), "[0-9]|[1-3][0-9]|4[0-7]");
        assert_eq!(layer_range_alternation(130), "[0-9]|[1-9][0-9]|1[0-2][0-9]");
        assert_eq!(n_cpu_moe_pattern(0), None);
    }
}
