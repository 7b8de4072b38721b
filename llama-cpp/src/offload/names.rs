//! llama.cpp's tensor names: the one parser of per-layer names (`blk.N.*`)
//! and the input layer's names, shared by the plan, the planner and the tools.

/// Layer index of a tensor named `blk.N.*`.
pub fn tensor_layer(name: &str) -> Option<u32> {
    split_layer_tensor(name).map(|(layer, _)| layer)
}

/// A tensor named `blk.N.REST` split into `(N, REST)` (`REST` is empty for a
/// bare `blk.N`): the one parser of llama.cpp's per-layer tensor names.
pub fn split_layer_tensor(name: &str) -> Option<(u32, &str)> {
    let rest = name.strip_prefix("blk.")?;
    let (digits, rest) = rest.split_once('.').unwrap_or((rest, ""));
    Some((digits.parse().ok()?, rest))
}

/// Tensors of llama.cpp's input layer, which always stays on the CPU.
pub(crate) fn is_input_tensor(name: &str) -> bool {
    [
        "token_embd.",
        "token_types.",
        "position_embd.",
        "token_embd_norm.",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_of_tensor_names() {
        assert_eq!(tensor_layer("blk.17.ffn_up_exps.weight"), Some(17));
        assert_eq!(tensor_layer("output.weight"), None);
        assert_eq!(tensor_layer("blk.x.attn_q.weight"), None);
    }
}
