//! Compact tensor-override patterns for a set of host expert matrices.
//!
//! llama.cpp's loader runs every pattern against every tensor name
//! (`std::regex_search`), so a plan is one pattern per group of layers that
//! send the same matrices to the host, with the layer numbers as a decade-
//! grouped alternation: usually two patterns (the whole layers and the
//! boundary layer), whatever the layer count.

use super::layout::ExpertPart;
use std::collections::BTreeMap;

/// Patterns selecting exactly the expert tensors of `host`: `(layer, part)`
/// pairs. With `with_biases` false the patterns end in `\.weight`, so the
/// matrices' biases stay where the layer split puts them (the GPU).
pub(crate) fn host_patterns(host: &[(u32, ExpertPart)], with_biases: bool) -> Vec<String> {
    let mut parts_of_layer: BTreeMap<u32, Vec<ExpertPart>> = BTreeMap::new();
    for &(layer, part) in host {
        parts_of_layer.entry(layer).or_default().push(part);
    }
    // Layers grouped by the set of parts they send.
    let mut layers_of_parts: BTreeMap<Vec<ExpertPart>, Vec<u32>> = BTreeMap::new();
    for (layer, mut parts) in parts_of_layer {
        parts.sort();
        parts.dedup();
        layers_of_parts.entry(parts).or_default().push(layer);
    }
    // The largest groups first: the loader stops at the first match.
    let mut groups: Vec<_> = layers_of_parts.into_iter().collect();
    groups.sort_by_key(|(parts, layers)| (std::cmp::Reverse(layers.len()), parts.clone()));
    let suffix = if with_biases { "" } else { r"\.weight" };
    groups
        .into_iter()
        .map(|(parts, layers)| {
            let names: Vec<&str> = parts.iter().map(|p| p.name()).collect();
            format!(
                r"blk\.({})\.ffn_({})_(ch|)exps{suffix}",
                numbers_alternation(&layers),
                names.join("|")
            )
        })
        .collect()
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
