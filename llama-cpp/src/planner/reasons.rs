//! The plan's reasons that describe where its experts went.

use super::error::gib;
use super::order::ExpertOrder;
use super::setup::Setup;
use super::speed::Traffic;
use super::{ExpertPart, ModelLayout};

/// One line naming the host experts by layer range, one with their size.
pub(super) fn describe_host(
    host: &[(u32, ExpertPart)],
    layout: &ModelLayout,
    t: &Traffic,
    order: ExpertOrder,
) -> Vec<String> {
    if host.is_empty() {
        return vec!["every expert the planner may move fits on the GPU".into()];
    }
    let parts_per_layer = |layer: u32| {
        let mut parts: Vec<ExpertPart> = layout
            .tensors
            .iter()
            .filter(|x| x.layer == Some(layer) && !x.is_bias)
            .filter_map(|x| x.expert)
            .collect();
        parts.sort();
        parts.dedup();
        parts
    };
    let mut full = Vec::new();
    let mut partial = Vec::new();
    let mut layers: Vec<u32> = host.iter().map(|h| h.0).collect();
    layers.sort_unstable();
    layers.dedup();
    for layer in layers {
        let mut parts: Vec<ExpertPart> =
            host.iter().filter(|h| h.0 == layer).map(|h| h.1).collect();
        parts.sort();
        if parts == parts_per_layer(layer) {
            full.push(layer);
        } else {
            let names: Vec<&str> = parts.iter().map(|p| p.name()).collect();
            partial.push(format!("layer {layer} ({})", names.join(", ")));
        }
    }
    let mut line = format!(
        "experts to host memory, {}: {}",
        order.describe(),
        ranges(&full)
    );
    if !partial.is_empty() {
        line.push_str(&format!("; split boundary: {}", partial.join(", ")));
    }
    vec![
        line,
        format!(
            "host experts {} (the GPU copies them per ubatch; the CPU reads {:.1}% per token)",
            gib(t.host_expert_bytes),
            layout.active_fraction() * 100.0
        ),
    ]
}

/// Why the first layers run on the CPU, and what the prediction leaves out.
pub(super) fn describe_lowered(lowered: &Setup, layout: &ModelLayout, t: &Traffic) -> Vec<String> {
    let n = lowered.n_gpu_layers.unsigned_abs();
    let on_cpu = (layout.n_layer + 1).saturating_sub(n);
    vec![
        format!(
            "n_gpu_layers {n}: left unset by the caller, and with every expert the planner may \
             move in host memory the budget was still exceeded, so layers 0-{} run on the CPU \
             whole (attention, KV cache and experts in host memory), as llama.cpp's fit does; \
             the largest count that fits by the dry runs",
            on_cpu.saturating_sub(1)
        ),
        format!(
            "the prediction counts those layers' weights ({} besides experts) as read by the CPU \
             per token and copied per ubatch; it leaves out their attention over the KV cache on \
             the CPU, so it is optimistic, the more so for long contexts",
            gib(t.host_dense_bytes)
        ),
    ]
}

/// `[3, 4, 5, 9]` as `layers 3-5, 9`.
fn ranges(layers: &[u32]) -> String {
    if layers.is_empty() {
        return "no whole layer".into();
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < layers.len() {
        let mut j = i;
        while j + 1 < layers.len() && layers[j + 1] == layers[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            layers[i].to_string()
        } else {
            format!("{}-{}", layers[i], layers[j])
        });
        i = j + 1;
    }
    format!("layers {} (all matrices)", out.join(", "))
}
