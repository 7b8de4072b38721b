//! Compact tensor-override patterns for a set of host expert matrices.
//!
//! llama.cpp's loader runs every pattern against every tensor name
//! (`std::regex_search`), so a plan is one pattern per group of layers that
//! send the same matrices to the host, with the layer numbers as a decade-
//! grouped alternation: usually two patterns (the whole layers and the
//! boundary layer), whatever the layer count.

use super::layout::ExpertPart;
use crate::offload::numbers_alternation;
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
