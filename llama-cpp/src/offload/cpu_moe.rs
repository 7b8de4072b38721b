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
    let last = u32::try_from(n - 1).expect("n < LLAMA_MAX_LAYERS");
    numbers_alternation(&(0..=last).collect::<Vec<_>>())
}

/// A regex alternation matching exactly the decimal numbers in `numbers`
/// (no leading zeros): runs of consecutive numbers become decade classes,
/// `12..=23` gives `1[2-9]|2[0-3]`.
pub(crate) fn numbers_alternation(numbers: &[u32]) -> String {
    let mut sorted = numbers.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1] == sorted[j] + 1 {
            j += 1;
        }
        range_alternation(sorted[i], sorted[j], &mut parts);
        i = j + 1;
    }
    parts.join("|")
}

/// Appends the alternatives for `lo..=hi`.
fn range_alternation(lo: u32, hi: u32, out: &mut Vec<String>) {
    let mut n = lo;
    while n <= hi {
        if n % 10 != 0 || n + 9 > hi {
            // A partial decade: from n to the decade's end or hi.
            let end = (n / 10 * 10 + 9).min(hi);
            out.push(with_prefix(n / 10, &digit_class(n % 10, end % 10)));
            n = end + 1;
            continue;
        }
        // Whole decades from n: as many as fit below hi within this hundred.
        let decade = n / 10;
        if decade == 0 {
            // 0..=9 are one digit: the tens start a class of their own.
            out.push("[0-9]".to_owned());
            n = 10;
            continue;
        }
        let mut last = decade;
        while (last + 1) % 10 != 0 && (last + 1) * 10 + 9 <= hi {
            last += 1;
        }
        if decade % 10 == 0 && last == decade + 9 {
            // A whole hundred: 100..=199 is `1[0-9][0-9]`.
            out.push(with_prefix(decade / 10, "[0-9][0-9]"));
        } else if last == decade {
            out.push(with_prefix(decade, "[0-9]"));
        } else {
            let class = digit_class(decade % 10, last % 10);
            out.push(with_prefix(decade / 10, &format!("{class}[0-9]")));
        }
        n = (last + 1) * 10;
    }
}

/// `prefix` then `rest`, with no leading zero: a zero prefix is dropped.
fn with_prefix(prefix: u32, rest: &str) -> String {
    if prefix == 0 {
        rest.to_owned()
    } else {
        format!("{prefix}{rest}")
    }
}

fn digit_class(first: u32, last: u32) -> String {
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
