//! Unit tests of the presets' shapes, the vocabulary and the data fills.

use llama_cpp::gguf::GgufValue;

use super::fill::{f32_to_f16_bits, fill_const};
use super::*;

fn spec(p: Preset, layers: Option<u32>) -> ModelSpec {
    build(
        p,
        &SynthOptions {
            layers,
            vocab: None,
        },
    )
    .unwrap()
}

fn u32_kv(s: &ModelSpec, key: &str) -> u32 {
    match s.kv(key) {
        Some(GgufValue::U32(x)) => *x,
        other => panic!("{key}: {other:?}"),
    }
}

#[test]
fn tensor_counts() {
    // per layer: gpt-oss 19, phimoe 16, deepseek 9 (dense) / 13 (moe), qwen3moe 12
    assert_eq!(spec(Preset::GptOss20b, None).tensors.len(), 3 + 24 * 19);
    assert_eq!(spec(Preset::Phi35Moe, None).tensors.len(), 7 + 32 * 16);
    assert_eq!(
        spec(Preset::DeepseekMoe16b, None).tensors.len(),
        3 + 9 + 27 * 13
    );
    assert_eq!(spec(Preset::Qwen3_30bA3b, None).tensors.len(), 3 + 48 * 12);
}

#[test]
fn names_are_unique_and_dims_block_aligned() {
    for p in Preset::ALL {
        let s = spec(p, None);
        let mut names: Vec<_> = s.tensors.iter().map(|t| t.name.as_str()).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "{p}: duplicate tensor names");
        for t in &s.tensors {
            assert_eq!(t.dims[0] % t.dtype.block_elems(), 0, "{}", t.name);
            assert!(t.dims.len() <= 4);
        }
    }
}

#[test]
fn expert_shapes() {
    let cases = [
        (Preset::GptOss20b, 2880, 2880, 32, Dtype::Mxfp4, 24),
        (Preset::Phi35Moe, 4096, 6400, 16, Dtype::Q8_0, 32),
        (Preset::DeepseekMoe16b, 2048, 1408, 64, Dtype::F16, 27),
        (Preset::Qwen3_30bA3b, 2048, 768, 128, Dtype::Q4K, 48),
    ];
    for (p, e, f, x, ty, moe_layers) in cases {
        let s = spec(p, None);
        let last = s.hparams.n_layer - 1;
        let up = s.tensor(&format!("blk.{last}.ffn_up_exps.weight")).unwrap();
        let gate = s
            .tensor(&format!("blk.{last}.ffn_gate_exps.weight"))
            .unwrap();
        let down = s
            .tensor(&format!("blk.{last}.ffn_down_exps.weight"))
            .unwrap();
        assert_eq!(up.dims, vec![e, f, x], "{p}");
        assert_eq!(gate.dims, vec![e, f, x], "{p}");
        assert_eq!(down.dims, vec![f, e, x], "{p}");
        assert!([up, gate, down].iter().all(|t| t.dtype == ty), "{p}");
        let router = s
            .tensor(&format!("blk.{last}.ffn_gate_inp.weight"))
            .unwrap();
        assert_eq!(router.dims, vec![e, x]);
        assert_eq!(router.dtype, Dtype::F32);
        let n_exp_weights = s
            .tensors
            .iter()
            .filter(|t| t.is_expert() && t.name.ends_with(".weight"))
            .count();
        assert_eq!(n_exp_weights, 3 * moe_layers, "{p}");
        assert_eq!(u32_kv(&s, &format!("{}.expert_count", p.arch())) as u64, x);
    }
    // deepseek: first layer dense, shared experts on the others
    let s = spec(Preset::DeepseekMoe16b, None);
    assert_eq!(
        s.tensor("blk.0.ffn_up.weight").unwrap().dims,
        vec![2048, 10944]
    );
    assert!(s.tensor("blk.0.ffn_up_exps.weight").is_none());
    assert_eq!(
        s.tensor("blk.1.ffn_up_shexp.weight").unwrap().dims,
        vec![2048, 2816]
    );
    assert_eq!(
        s.tensor("blk.1.ffn_down_shexp.weight").unwrap().dims,
        vec![2816, 2048]
    );
    assert_eq!(u32_kv(&s, "deepseek.leading_dense_block_count"), 1);
}

#[test]
fn attention_shapes() {
    let s = spec(Preset::GptOss20b, None);
    assert_eq!(
        s.tensor("blk.3.attn_q.weight").unwrap().dims,
        vec![2880, 4096]
    );
    assert_eq!(
        s.tensor("blk.3.attn_k.weight").unwrap().dims,
        vec![2880, 512]
    );
    assert_eq!(
        s.tensor("blk.3.attn_output.weight").unwrap().dims,
        vec![4096, 2880]
    );
    assert_eq!(s.tensor("blk.3.attn_sinks.weight").unwrap().dims, vec![64]);
    assert_eq!(
        s.tensor("token_embd.weight").unwrap().dims,
        vec![2880, 201088]
    );
    let s = spec(Preset::Qwen3_30bA3b, None);
    assert_eq!(
        s.tensor("blk.0.attn_q.weight").unwrap().dims,
        vec![2048, 4096]
    );
    assert_eq!(
        s.tensor("blk.0.attn_k.weight").unwrap().dims,
        vec![2048, 512]
    );
    assert_eq!(
        s.tensor("blk.0.attn_q_norm.weight").unwrap().dims,
        vec![128]
    );
    let s = spec(Preset::Phi35Moe, None);
    assert_eq!(
        s.tensor("blk.0.attn_k.weight").unwrap().dims,
        vec![4096, 1024]
    );
    assert_eq!(s.tensor("rope_factors_long.weight").unwrap().dims, vec![64]);
    assert_eq!(s.tensor("output.bias").unwrap().dims, vec![32064]);
}

#[test]
fn shrunk_preset_keeps_per_layer_shapes() {
    for p in Preset::ALL {
        let full = spec(p, None);
        let small = spec(p, Some(2));
        assert_eq!(u32_kv(&small, &format!("{}.block_count", p.arch())), 2);
        assert!(small
            .tensors
            .iter()
            .all(|t| t.layer().is_none_or(|l| l < 2)));
        for t in &small.tensors {
            let f = full
                .tensor(&t.name)
                .unwrap_or_else(|| panic!("{p}: {} missing", t.name));
            assert_eq!(f, t, "{p}");
        }
        // same KV except the layer count and description
        for (k, v) in &small.kv {
            if k.ends_with(".block_count") || k == "general.description" {
                continue;
            }
            assert_eq!(Some(v), full.kv(k), "{p}: {k}");
        }
        assert_eq!(small.kv.len(), full.kv.len());
    }
}

#[test]
fn full_sizes_are_near_the_real_files() {
    let gb = |p| spec(p, None).tensor_bytes() as f64 / 1e9;
    let g = gb(Preset::GptOss20b);
    assert!((13.6..14.0).contains(&g), "gpt-oss {g}");
    let g = gb(Preset::Phi35Moe);
    assert!((44.0..45.5).contains(&g), "phimoe {g}");
    let g = gb(Preset::DeepseekMoe16b);
    assert!((32.5..33.0).contains(&g), "deepseek {g}");
    let g = gb(Preset::Qwen3_30bA3b);
    assert!((17.0..18.7).contains(&g), "qwen3moe {g}");
}

#[test]
fn layer_and_vocab_limits() {
    let err =
        |layers, vocab| build(Preset::GptOss20b, &SynthOptions { layers, vocab }).unwrap_err();
    assert!(matches!(
        err(Some(0), None),
        SynthError::LayersOutOfRange {
            layers: 0,
            max: 24,
            ..
        }
    ));
    let too_many = err(Some(25), None);
    assert_eq!(
        too_many.to_string(),
        "--layers must be in 1..=24 for gpt-oss-20b (got 25)"
    );
    assert!(matches!(
        err(None, Some(100)),
        SynthError::VocabTooSmall { vocab: 100, .. }
    ));
    assert!(matches!(
        synthetic_vocab(min_vocab() - 1),
        Err(SynthError::VocabTooSmall { .. })
    ));
    let s = build(
        Preset::Phi35Moe,
        &SynthOptions {
            layers: Some(1),
            vocab: Some(1000),
        },
    )
    .unwrap();
    assert_eq!(s.tensor("output.weight").unwrap().dims, vec![4096, 1000]);
    match s.kv("tokenizer.ggml.tokens") {
        Some(GgufValue::Array(a)) => assert_eq!(a.len(), 1000),
        other => panic!("{other:?}"),
    }
}

#[test]
fn presets_parse_by_name() {
    assert_eq!(
        "Qwen3-30B-A3B".parse::<Preset>().unwrap(),
        Preset::Qwen3_30bA3b
    );
    for p in Preset::ALL {
        assert_eq!(p.name().parse::<Preset>().unwrap(), p);
    }
    let err = "llama-7b".parse::<Preset>().unwrap_err();
    assert!(matches!(&err, SynthError::UnknownPreset { name } if name == "llama-7b"));
    assert!(
        err.to_string().contains("gpt-oss-20b, phi-3.5-moe"),
        "{err}"
    );
}

#[test]
fn general_name_avoids_phi3_rules() {
    for p in Preset::ALL {
        let s = spec(p, Some(1));
        let Some(GgufValue::String(n)) = s.kv("general.name") else {
            panic!()
        };
        let n = n.to_lowercase();
        assert!(!n.contains("phi3") && !n.contains("phi-3"), "{n}");
        let Some(GgufValue::String(a)) = s.kv("general.architecture") else {
            panic!()
        };
        assert_eq!(a, p.arch());
    }
}

#[test]
fn vocab_is_consistent() {
    let (tokens, types, merges, bos, eos) = synthetic_vocab(1000).unwrap();
    assert_eq!(tokens.len(), 1000);
    assert_eq!(types.len(), 1000);
    let set: std::collections::HashSet<_> = tokens.iter().collect();
    assert_eq!(set.len(), tokens.len(), "token texts must be unique");
    assert_eq!(tokens[bos as usize], BOS_TEXT);
    assert_eq!(tokens[eos as usize], EOS_TEXT);
    assert_eq!(byte_to_unicode(b' '), 'Ġ');
    assert_eq!(byte_to_unicode(b'\n'), 'Ċ');
    assert_eq!(byte_to_unicode(b'a'), 'a');
    assert_eq!(byte_to_unicode(0), '\u{100}');
    assert_eq!(byte_to_unicode(0xAD), '\u{143}');
    for m in &merges {
        let (a, b) = m.split_once(' ').unwrap();
        assert!(
            set.contains(&a.to_string()) && set.contains(&b.to_string()),
            "{m}"
        );
        assert!(set.contains(&format!("{a}{b}")), "{m}");
    }
}

fn f16_to_f32(h: u16) -> f32 {
    let e = ((h >> 10) & 0x1F) as i32;
    let m = (h & 0x3FF) as f32;
    let s = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    match e {
        0 => s * m * 2f32.powi(-24),
        31 => f32::NAN,
        _ => s * (1.0 + m / 1024.0) * 2f32.powi(e - 15),
    }
}

#[test]
fn random_values_are_finite_and_small() {
    let mut rng = SplitMix64::new(1);
    let mut buf = vec![0u8; 4096];
    fill_random(Dtype::F32, &mut buf, &mut rng);
    for c in buf.chunks_exact(4) {
        let x = f32::from_le_bytes(c.try_into().unwrap()).abs();
        assert!((2f32.powi(-9)..2f32.powi(-5)).contains(&x), "{x}");
    }
    fill_random(Dtype::F16, &mut buf, &mut rng);
    for c in buf.chunks_exact(2) {
        let x = f16_to_f32(u16::from_le_bytes([c[0], c[1]])).abs();
        assert!((2f32.powi(-9)..2f32.powi(-5)).contains(&x), "{x}");
    }
    fill_random(Dtype::BF16, &mut buf, &mut rng);
    for c in buf.chunks_exact(2) {
        let x = f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16).abs();
        assert!((2f32.powi(-9)..2f32.powi(-5)).contains(&x), "{x}");
    }
    let mut q = vec![0u8; 34 * 100];
    fill_random(Dtype::Q8_0, &mut q, &mut rng);
    for b in q.chunks_exact(34) {
        let d = f16_to_f32(u16::from_le_bytes([b[0], b[1]]));
        assert!((2f32.powi(-12)..2f32.powi(-11)).contains(&d), "{d}");
    }
    let mut q = vec![0u8; 17 * 100];
    fill_random(Dtype::Mxfp4, &mut q, &mut rng);
    assert!(q.chunks_exact(17).all(|b| (118..=121).contains(&b[0])));
    let mut q = vec![0u8; 144 * 10];
    fill_random(Dtype::Q4K, &mut q, &mut rng);
    for b in q.chunks_exact(144) {
        for at in [0, 2] {
            let d = f16_to_f32(u16::from_le_bytes([b[at], b[at + 1]]));
            assert!((2f32.powi(-14)..2f32.powi(-13)).contains(&d), "{d}");
        }
    }
    let mut q = vec![0u8; 210 * 10];
    fill_random(Dtype::Q6K, &mut q, &mut rng);
    for b in q.chunks_exact(210) {
        let d = f16_to_f32(u16::from_le_bytes([b[208], b[209]]));
        assert!((2f32.powi(-14)..2f32.powi(-13)).contains(&d), "{d}");
    }
}

#[test]
fn dtypes_are_in_the_ggml_type_table() {
    let all = [
        Dtype::F32,
        Dtype::F16,
        Dtype::BF16,
        Dtype::Q8_0,
        Dtype::Q4K,
        Dtype::Q6K,
        Dtype::Mxfp4,
    ];
    let sizes: Vec<_> = all
        .iter()
        .map(|d| (d.name(), d.ggml_id(), d.block_elems(), d.block_bytes()))
        .collect();
    // The block layouts the fills in this module write (see the module docs).
    assert_eq!(
        sizes,
        [
            ("f32", 0, 1, 4),
            ("f16", 1, 1, 2),
            ("bf16", 30, 1, 2),
            ("q8_0", 8, 32, 34),
            ("q4_K", 12, 256, 144),
            ("q6_K", 14, 256, 210),
            ("mxfp4", 39, 32, 17),
        ]
    );
}

#[test]
fn constants() {
    assert_eq!(f32_to_f16_bits(1.0), 0x3C00);
    assert_eq!(f32_to_f16_bits(-2.0), 0xC000);
    let mut b = [0u8; 8];
    fill_const(Dtype::BF16, 1.0, &mut b);
    assert_eq!(b, [0x80, 0x3F, 0x80, 0x3F, 0x80, 0x3F, 0x80, 0x3F]);
}

#[test]
fn streamed_bytes_match_sizes_and_seed() {
    let s = build(
        Preset::DeepseekMoe16b,
        &SynthOptions {
            layers: Some(1),
            vocab: Some(512),
        },
    )
    .unwrap();
    let write = |seed| {
        let mut out = Vec::new();
        let n = write_gguf(&s, &mut out, seed, &mut |_| {}).unwrap();
        assert_eq!(n, out.len() as u64);
        out
    };
    let a = write(7);
    assert_eq!(a.len() as u64, s.file_size().unwrap());
    assert!(a.len() as u64 > s.tensor_bytes());
    assert_eq!(&a[..4], b"GGUF");
    assert_eq!(a, write(7), "same seed, same bytes");
    assert_ne!(a, write(8));
}
