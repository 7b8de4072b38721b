//! Unit tests of the GGUF reader and writer: round trips, layout, the type
//! table, a real model, and malformed or truncated input.

use std::io::{self, Read};
use std::path::Path;

use super::value::{T_ARRAY, T_STRING, T_U32, T_U8};
use super::*;

const SMOLLM: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../models/SmolLM2-135M-Instruct.Q4_1.gguf"
);

fn all_scalar_values() -> Vec<(String, GgufValue)> {
    use GgufValue as V;
    vec![
        ("t.u8".into(), V::U8(200)),
        ("t.i8".into(), V::I8(-100)),
        ("t.u16".into(), V::U16(60000)),
        ("t.i16".into(), V::I16(-30000)),
        ("t.u32".into(), V::U32(4_000_000_000)),
        ("t.i32".into(), V::I32(-2_000_000_000)),
        ("t.f32".into(), V::F32(-1.5e-7)),
        ("t.bool".into(), V::Bool(true)),
        ("t.bool_false".into(), V::Bool(false)),
        ("t.str".into(), V::String("héllo ✓ \u{0}".into())),
        ("t.str_empty".into(), V::String(String::new())),
        ("t.u64".into(), V::U64(u64::MAX)),
        ("t.i64".into(), V::I64(i64::MIN)),
        ("t.f64".into(), V::F64(std::f64::consts::PI)),
        ("t.f32_inf".into(), V::F32(f32::INFINITY)),
    ]
}

fn all_values() -> Vec<(String, GgufValue)> {
    use GgufValue as V;
    let mut kv = all_scalar_values();
    // One array per element type, including nested ones.
    for (k, v) in all_scalar_values() {
        kv.push((format!("arr.{k}"), V::Array(vec![v.clone(), v.clone(), v])));
    }
    kv.push(("arr.empty".into(), V::Array(vec![])));
    kv.push((
        "arr.nested".into(),
        V::Array(vec![
            V::Array(vec![V::U8(1), V::U8(2)]),
            V::Array(vec![V::String("x".into())]),
            V::Array(vec![]),
            V::Array(vec![V::Array(vec![V::F64(1.0)])]),
        ]),
    ));
    kv
}

fn write_to_vec(w: &GgufWriter) -> Vec<u8> {
    let mut out = Vec::new();
    let n = w
        .write(&mut out, |_, info, sink| {
            // Bytes that vary with position and tensor, so misplaced data shows.
            let bytes: Vec<u8> = (0..info.n_bytes())
                .map(|i| (i as u8).wrapping_mul(7) ^ info.name.len() as u8)
                .collect();
            sink.write_all(&bytes)
        })
        .expect("write");
    assert_eq!(n, out.len() as u64);
    out
}

fn small_file() -> (GgufWriter, Vec<u8>) {
    let mut w = GgufWriter::new();
    w.set("general.architecture", "llama".into());
    w.set("llama.block_count", GgufValue::U32(1));
    w.set("tok", GgufValue::Array(vec!["a".into(), "bc".into()]));
    w.add_tensor("a", &[3], GgmlType::F32).unwrap();
    w.add_tensor("b", &[32, 2], GgmlType::Q4_1).unwrap();
    w.add_tensor("c", &[5, 1, 1], GgmlType::F16).unwrap();
    let bytes = write_to_vec(&w);
    (w, bytes)
}

#[test]
fn round_trip_every_value_type() {
    let mut w = GgufWriter::new();
    for (k, v) in all_values() {
        w.set(k, v);
    }
    let bytes = write_to_vec(&w);
    let f = GgufFile::from_bytes(&bytes).unwrap();
    assert_eq!(f.version, 3);
    assert_eq!(f.alignment, GGUF_DEFAULT_ALIGNMENT);
    assert_eq!(f.kv, all_values());
    assert!(f.tensors.is_empty());
    // Writing what was read gives the same bytes.
    assert_eq!(write_to_vec(&GgufWriter::from_file(&f)), bytes);
}

#[test]
fn empty_array_is_written_as_string_array() {
    let mut w = GgufWriter::new();
    w.set("e", GgufValue::Array(vec![]));
    let bytes = write_to_vec(&w);
    // magic, version, n_tensors, n_kv, key len, "e", T_ARRAY, elem type, len
    let elem_type_at = 4 + 4 + 8 + 8 + 8 + 1 + 4;
    assert_eq!(
        &bytes[elem_type_at..elem_type_at + 4],
        &T_STRING.to_le_bytes()
    );
}

#[test]
fn offsets_are_aligned_and_data_round_trips() {
    for alignment in [None, Some(1u64), Some(64), Some(4096)] {
        let mut w = GgufWriter::new();
        w.set("general.name", "t".into());
        if let Some(a) = alignment {
            w.set_alignment(a).unwrap();
        }
        w.add_tensor("x", &[7], GgmlType::F32).unwrap();
        w.add_tensor("y", &[64, 3], GgmlType::Q8_0).unwrap();
        w.add_tensor("z", &[256, 2, 2, 1], GgmlType::Q4_K).unwrap();
        w.add_tensor("w", &[1], GgmlType::I8).unwrap();
        let a = alignment.unwrap_or(GGUF_DEFAULT_ALIGNMENT);
        let infos = w.tensors().to_vec();
        assert_eq!(infos[1].n_bytes(), 3 * 2 * 34);
        assert_eq!(infos[2].n_bytes(), 4 * 144);
        let bytes = write_to_vec(&w);
        let f = GgufFile::from_bytes(&bytes).unwrap();
        assert_eq!(f.alignment, a);
        assert_eq!(f.data_offset % a, 0);
        assert_eq!(f.tensors, infos);
        let mut expected_offset = 0;
        for t in &f.tensors {
            assert_eq!(t.offset % a, 0);
            assert_eq!(t.offset, expected_offset);
            expected_offset = (t.offset + t.n_bytes()).next_multiple_of(a);
            let r = f.tensor_data_range(t);
            let data = &bytes[r.start as usize..r.end as usize];
            let want: Vec<u8> = (0..t.n_bytes())
                .map(|i| (i as u8).wrapping_mul(7) ^ t.name.len() as u8)
                .collect();
            assert_eq!(data, &want[..]);
        }
        assert_eq!(bytes.len() as u64 % a, 0);
    }
}

#[test]
fn alignment_change_relayouts_offsets() {
    let mut w = GgufWriter::new();
    w.add_tensor("a", &[1], GgmlType::F32).unwrap();
    w.add_tensor("b", &[1], GgmlType::F32).unwrap();
    assert_eq!(w.tensors()[1].offset, 32);
    w.set_alignment(256).unwrap();
    assert_eq!(w.tensors()[1].offset, 256);
    w.remove(GGUF_KEY_ALIGNMENT);
    assert_eq!(w.tensors()[1].offset, 32);
    assert!(matches!(
        w.set_alignment(3),
        Err(GgufError::InvalidAlignment(3))
    ));
    w.set(GGUF_KEY_ALIGNMENT, GgufValue::U64(64));
    assert!(matches!(
        w.write(Vec::new(), |_, _, _| Ok(())),
        Err(GgufError::InvalidMetadata { .. })
    ));
    w.set(GGUF_KEY_ALIGNMENT, GgufValue::U32(0));
    assert!(matches!(
        w.write(Vec::new(), |_, _, _| Ok(())),
        Err(GgufError::InvalidAlignment(0))
    ));
}

#[test]
fn set_replaces_in_place_and_remove() {
    let mut w = GgufWriter::new();
    w.set("a", GgufValue::U8(1))
        .set("b", GgufValue::U8(2))
        .set("c", GgufValue::U8(3));
    w.set("b", "two".into());
    let keys: Vec<&str> = w.kv().iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["a", "b", "c"]);
    assert_eq!(w.get("b").and_then(GgufValue::as_str), Some("two"));
    assert_eq!(w.remove("a"), Some(GgufValue::U8(1)));
    assert_eq!(w.remove("a"), None);
    assert_eq!(w.kv().len(), 2);
}

#[test]
fn writer_rejects_bad_input() {
    let mut w = GgufWriter::new();
    w.set(
        "mixed",
        GgufValue::Array(vec![GgufValue::U8(1), GgufValue::I8(1)]),
    );
    assert!(
        matches!(w.write(Vec::new(), |_, _, _| Ok(())), Err(GgufError::MixedArray { key }) if key == "mixed")
    );
    w.set(
        "mixed",
        GgufValue::Array(vec![GgufValue::Array(vec![]), GgufValue::U8(1)]),
    );
    assert!(matches!(
        w.write(Vec::new(), |_, _, _| Ok(())),
        Err(GgufError::MixedArray { .. })
    ));
    w.remove("mixed");
    w.set("", GgufValue::U8(1));
    assert!(matches!(
        w.write(Vec::new(), |_, _, _| Ok(())),
        Err(GgufError::InvalidMetadata { .. })
    ));

    let mut w = GgufWriter::new();
    w.add_tensor("t", &[32], GgmlType::Q4_0).unwrap();
    assert!(matches!(
        w.add_tensor("t", &[32], GgmlType::F32),
        Err(GgufError::DuplicateTensor(_))
    ));
    assert!(matches!(
        w.add_tensor("u", &[], GgmlType::F32),
        Err(GgufError::InvalidTensor { .. })
    ));
    assert!(matches!(
        w.add_tensor("u", &[1, 1, 1, 1, 1], GgmlType::F32),
        Err(GgufError::InvalidTensor { .. })
    ));
    assert!(matches!(
        w.add_tensor("u", &[16, 2], GgmlType::Q4_0),
        Err(GgufError::InvalidTensor { .. })
    ));
    assert!(matches!(
        w.add_tensor("u", &[4], GgmlType(4)),
        Err(GgufError::UnknownTensorType { type_id: 4, .. })
    ));
    assert!(matches!(
        w.add_tensor("u", &[u64::MAX], GgmlType::F32),
        Err(GgufError::InvalidTensor { .. })
    ));
    assert!(matches!(
        w.add_tensor("u", &[1 << 40, 1 << 40], GgmlType::F32),
        Err(GgufError::InvalidTensor { .. })
    ));
    assert!(matches!(
        w.add_tensor("n".repeat(64), &[1], GgmlType::F32),
        Err(GgufError::InvalidTensor { .. })
    ));
    w.add_tensor("n".repeat(63), &[1], GgmlType::F32).unwrap();

    // Data callback writing too little, too much, or failing.
    let short = w.write(Vec::new(), |_, _, sink| sink.write_all(&[0; 3]));
    assert!(matches!(
        short,
        Err(GgufError::WrongDataLength {
            expected: 18,
            written: 3,
            ..
        })
    ));
    let long = w.write(Vec::new(), |_, info, sink| {
        sink.write_all(&vec![0; info.n_bytes() as usize + 1])
    });
    assert!(matches!(
        long,
        Err(GgufError::WrongDataLength {
            expected: 18,
            written: 19,
            ..
        })
    ));
    let failing = w.write(Vec::new(), |_, _, _| Err(io::Error::other("boom")));
    assert!(matches!(failing, Err(GgufError::Io(_))));
}

#[test]
fn value_accessors() {
    use GgufValue as V;
    assert_eq!(V::I32(-1).as_u64(), None);
    assert_eq!(V::I32(5).as_u64(), Some(5));
    assert_eq!(V::U64(u64::MAX).as_u64(), Some(u64::MAX));
    assert_eq!(V::U64(u64::MAX).as_i64(), None);
    assert_eq!(V::I8(-3).as_i64(), Some(-3));
    assert_eq!(V::F32(0.5).as_f64(), Some(0.5));
    assert_eq!(V::U16(7).as_f64(), Some(7.0));
    assert_eq!(V::Bool(true).as_u64(), None);
    assert_eq!(V::Bool(true).as_bool(), Some(true));
    assert_eq!(V::String("s".into()).as_str(), Some("s"));
    assert_eq!(V::Array(vec![V::U8(1)]).as_array(), Some(&[V::U8(1)][..]));
    assert_eq!(V::F64(1.0).as_str(), None);
    let names: Vec<_> = all_scalar_values()
        .iter()
        .map(|(_, v)| v.type_name())
        .collect();
    assert_eq!(
        names[..14],
        [
            "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "bool", "str", "str", "u64",
            "i64", "f64"
        ]
    );
    assert_eq!(V::Array(vec![]).type_name(), "arr");
}

#[test]
fn type_table() {
    assert_eq!(GgmlType::MXFP4, GgmlType(39));
    assert_eq!(GgmlType::Q4_1.name(), Some("q4_1"));
    assert_eq!(GgmlType::Q4_K.name(), Some("q4_K"));
    assert_eq!(GgmlType::Q4_1.row_bytes(576).unwrap(), 18 * 20);
    assert!(GgmlType::Q4_1.row_bytes(33).is_err());
    assert!(GgmlType(31).row_bytes(1).is_err());
    assert_eq!(GgmlType::F32.to_string(), "f32");
    assert_eq!(GgmlType(4).to_string(), "ggml_type(4)");
    for t in GgmlType::ALL {
        assert!(
            t.name().is_some() && t.block_size().is_some() && t.type_size().is_some(),
            "{t:?}"
        );
    }
    // Every id outside ALL is unknown.
    for id in 0..100 {
        assert_eq!(
            GgmlType::ALL.contains(&GgmlType(id)),
            GgmlType(id).name().is_some()
        );
    }
}

/// The table agrees, id by id, with the ggml this crate links: a llama.cpp
/// update that adds, removes, renames or resizes a type fails here.
#[test]
#[allow(unsafe_code)]
fn type_table_matches_linked_ggml() {
    use crate::sys;
    use std::ffi::CStr;

    assert!(GgmlType::ALL.iter().all(|t| t.0 < sys::GGML_TYPE_COUNT));
    for id in 0..sys::GGML_TYPE_COUNT {
        let ours = GgmlType(id);
        // SAFETY: both getters read ggml's static `type_traits` table, which
        // has GGML_TYPE_COUNT entries, so every id below the count is in
        // bounds; they touch no other state and need no backend.
        let (block, size) = unsafe { (sys::ggml_blck_size(id), sys::ggml_type_size(id)) };
        if block == 0 {
            // Removed ids keep a placeholder entry with block size 0.
            assert_eq!(ours.name(), None, "id {id} was removed from ggml");
            continue;
        }
        // SAFETY: as above; every entry in use has a static NUL-terminated
        // name, and the pointer is checked for NULL before it is read.
        let name = unsafe {
            let ptr = sys::ggml_type_name(id);
            assert!(!ptr.is_null(), "id {id} has no name");
            CStr::from_ptr(ptr)
        };
        assert_eq!(ours.name(), name.to_str().ok(), "id {id}");
        assert_eq!(ours.block_size(), u64::try_from(block).ok(), "{ours}");
        assert_eq!(ours.type_size(), u64::try_from(size).ok(), "{ours}");
    }
}

#[test]
fn parse_real_model() {
    assert!(
        Path::new(SMOLLM).exists(),
        "{SMOLLM} missing: run scripts/bootstrap.sh"
    );
    let f = GgufFile::open(SMOLLM).unwrap();
    assert_eq!(f.architecture(), Some("llama"));
    assert_eq!(
        f.arch_value("block_count").and_then(GgufValue::as_u64),
        Some(30)
    );
    assert_eq!(f.get("llama.block_count"), f.arch_value("block_count"));
    assert_eq!(
        f.arch_value("embedding_length").and_then(GgufValue::as_u64),
        Some(576)
    );
    assert_eq!(f.tensors.len(), 272);
    let up = f.tensor("blk.0.ffn_up.weight").unwrap();
    assert_eq!(up.dims, [576, 1536]);
    assert_eq!(up.ggml_type, GgmlType::Q4_1);
    assert_eq!(up.n_bytes(), 576 / 32 * 20 * 1536);
    let len = std::fs::metadata(SMOLLM).unwrap().len();
    assert_eq!(f.file_len, Some(len));
    let last_end = f
        .tensors
        .iter()
        .map(|t| f.tensor_data_range(t).end)
        .max()
        .unwrap();
    assert!(last_end <= len);
    assert_eq!(
        f.tensors.last().map(|t| f.tensor_data_range(t).end),
        Some(last_end)
    );
    let tokens = f
        .get("tokenizer.ggml.tokens")
        .and_then(GgufValue::as_array)
        .unwrap();
    assert_eq!(tokens.len(), 49152);

    // Re-writing the header reproduces the original bytes exactly.
    let original = std::fs::read(SMOLLM).unwrap();
    let mut w = GgufWriter::from_file(&f);
    for t in &f.tensors {
        w.add_tensor(t.name.clone(), &t.dims, t.ggml_type).unwrap();
    }
    assert_eq!(w.tensors(), &f.tensors[..]);
    let mut out = Vec::new();
    w.write(&mut out, |_, t, sink| {
        let r = f.tensor_data_range(t);
        sink.write_all(&original[r.start as usize..r.end as usize])
    })
    .unwrap();
    assert_eq!(out.len(), original.len());
    assert!(out == original, "rewritten file differs");
}

#[test]
fn truncation_anywhere_is_an_error() {
    let (w, bytes) = small_file();
    let f = GgufFile::from_bytes(&bytes).unwrap();
    assert_eq!(f.tensors, w.tensors());
    let data_end = f
        .tensors
        .iter()
        .map(|t| f.tensor_data_range(t).end)
        .max()
        .unwrap() as usize;
    let infos_end = header_len(&bytes);
    for cut in 0..data_end {
        let r = GgufFile::from_bytes(&bytes[..cut]);
        assert!(r.is_err(), "cut at {cut} parsed");
        // Without a known length only the header itself can be found
        // missing; that must be reported as truncation, not garbage.
        if cut < infos_end {
            let r = GgufFile::read_header(&bytes[..cut], None);
            assert!(
                matches!(r, Err(GgufError::Truncated { .. })),
                "cut at {cut}: {r:?}"
            );
        }
    }
    // The padding after the last tensor is not needed.
    assert!(GgufFile::from_bytes(&bytes[..data_end]).is_ok());
}

/// Where the reader stops when it does not know the length: the end of
/// the tensor infos.
fn header_len(bytes: &[u8]) -> usize {
    let mut rest = bytes;
    GgufFile::read_header(&mut rest, None).unwrap();
    bytes.len() - rest.len()
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn garbage_never_panics() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (_, valid) = small_file();
    let mut values = GgufWriter::new();
    for (k, v) in all_values() {
        values.set(k, v);
    }
    values.add_tensor("t", &[32, 2], GgmlType::Q8_0).unwrap();
    let valid2 = write_to_vec(&values);
    let mut accepted = 0;
    for i in 0..20_000 {
        let input: Vec<u8> = match i % 4 {
            // Pure noise.
            0 => (0..rng.below(200)).map(|_| rng.next() as u8).collect(),
            // Valid prefix, noise after it.
            1 => {
                let mut v = b"GGUF\x03\0\0\0".to_vec();
                let n_t = rng.below(4);
                let n_kv = rng.below(4);
                v.extend_from_slice(&n_t.to_le_bytes());
                v.extend_from_slice(&n_kv.to_le_bytes());
                v.extend((0..rng.below(300)).map(|_| {
                    // Mostly small bytes so lengths and types look plausible.
                    if rng.below(3) == 0 {
                        rng.next() as u8
                    } else {
                        rng.below(10) as u8
                    }
                }));
                v
            }
            // Mutations of valid files.
            _ => {
                let mut v = if i % 4 == 2 {
                    valid.clone()
                } else {
                    valid2.clone()
                };
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(v.len() as u64) as usize;
                    v[at] = match rng.below(4) {
                        0 => 0xFF,
                        1 => 0,
                        2 => v[at].wrapping_add(1),
                        _ => rng.next() as u8,
                    };
                }
                if rng.below(4) == 0 {
                    v.truncate(rng.below(v.len() as u64) as usize);
                }
                v
            }
        };
        if let Ok(f) = GgufFile::from_bytes(&input) {
            accepted += 1;
            for t in &f.tensors {
                assert!(f.tensor_data_range(t).end <= input.len() as u64);
                assert_eq!(t.offset % f.alignment, 0);
            }
        }
        let _ = GgufFile::read_header(&input[..], None);
    }
    assert!(accepted > 0);
}

fn raw_header(n_tensors: u64, n_kv: u64) -> Vec<u8> {
    let mut v = GGUF_MAGIC.to_vec();
    v.extend_from_slice(&3u32.to_le_bytes());
    v.extend_from_slice(&n_tensors.to_le_bytes());
    v.extend_from_slice(&n_kv.to_le_bytes());
    v
}

fn raw_str(v: &mut Vec<u8>, s: &str) {
    v.extend_from_slice(&(s.len() as u64).to_le_bytes());
    v.extend_from_slice(s.as_bytes());
}

fn raw_tensor(v: &mut Vec<u8>, name: &str, dims: &[u64], ty: u32, offset: u64) {
    raw_str(v, name);
    v.extend_from_slice(&(dims.len() as u32).to_le_bytes());
    for d in dims {
        v.extend_from_slice(&d.to_le_bytes());
    }
    v.extend_from_slice(&ty.to_le_bytes());
    v.extend_from_slice(&offset.to_le_bytes());
}

fn with_data(mut v: Vec<u8>, data: usize) -> Vec<u8> {
    v.resize(v.len().next_multiple_of(32) + data, 0);
    v
}

#[test]
fn reader_rejects_malformed_headers() {
    let err = |v: &[u8]| GgufFile::from_bytes(v).unwrap_err();
    assert!(matches!(err(b"GGML\x03\0\0\0"), GgufError::NotGguf { magic } if &magic == b"GGML"));
    assert!(err(b"\0\x01GG").to_string().contains("\\x00\\x01GG"));
    let mut v = raw_header(0, 0);
    v[4] = 1;
    assert!(matches!(err(&v), GgufError::UnsupportedVersion(1)));
    v[4..8].copy_from_slice(&0x0300_0000u32.to_le_bytes());
    assert!(err(&v).to_string().contains("big-endian"));
    assert!(GgufFile::from_bytes(&raw_header(0, 0)).is_ok());
    let mut v2 = raw_header(0, 0);
    v2[4] = 2;
    assert_eq!(GgufFile::from_bytes(&v2).unwrap().version, 2);
    assert!(matches!(
        err(&raw_header(0, u64::MAX)),
        GgufError::Truncated { .. }
    ));
    assert!(matches!(
        err(&raw_header(u64::MAX, 0)),
        GgufError::Truncated { .. }
    ));
    assert!(matches!(
        GgufFile::read_header(&raw_header(0, u64::MAX)[..], None),
        Err(GgufError::TooLarge { .. })
    ));

    // Duplicate key, empty key, unknown value type, bad alignment.
    let mut v = raw_header(0, 2);
    for _ in 0..2 {
        raw_str(&mut v, "k");
        v.extend_from_slice(&T_U8.to_le_bytes());
        v.push(1);
    }
    assert!(matches!(err(&v), GgufError::DuplicateKey(k) if k == "k"));
    let mut v = raw_header(0, 1);
    raw_str(&mut v, "");
    v.extend_from_slice(&T_U8.to_le_bytes());
    v.extend_from_slice(&[1; 8]);
    assert!(matches!(err(&v), GgufError::InvalidMetadata { .. }));
    let mut v = raw_header(0, 1);
    raw_str(&mut v, "k");
    v.extend_from_slice(&13u32.to_le_bytes());
    v.push(1);
    assert!(matches!(err(&v), GgufError::UnknownValueType(13)));
    let mut v = raw_header(0, 1);
    raw_str(&mut v, GGUF_KEY_ALIGNMENT);
    v.extend_from_slice(&T_U32.to_le_bytes());
    v.extend_from_slice(&48u32.to_le_bytes());
    assert!(matches!(err(&v), GgufError::InvalidAlignment(48)));
    // Invalid UTF-8.
    let mut v = raw_header(0, 1);
    v.extend_from_slice(&2u64.to_le_bytes());
    v.extend_from_slice(&[0xC3, 0x28]);
    v.extend_from_slice(&T_U8.to_le_bytes());
    v.extend_from_slice(&[1; 8]);
    assert!(matches!(err(&v), GgufError::InvalidString { .. }));
    // Huge string and array lengths.
    let mut v = raw_header(0, 1);
    v.extend_from_slice(&u64::MAX.to_le_bytes());
    v.extend_from_slice(&[0; 16]);
    assert!(matches!(
        err(&v),
        GgufError::TooLarge {
            what: "string length",
            ..
        }
    ));
    let mut v = raw_header(0, 1);
    raw_str(&mut v, "k");
    v.extend_from_slice(&T_ARRAY.to_le_bytes());
    v.extend_from_slice(&T_U8.to_le_bytes());
    v.extend_from_slice(&(1u64 << 29).to_le_bytes());
    assert!(matches!(err(&v), GgufError::Truncated { .. }));
    assert!(matches!(
        GgufFile::read_header(&v[..], None),
        Err(GgufError::Truncated { .. })
    ));
    // Nesting deeper than the limit.
    let mut v = raw_header(0, 1);
    raw_str(&mut v, "k");
    v.extend_from_slice(&T_ARRAY.to_le_bytes());
    for _ in 0..100 {
        v.extend_from_slice(&T_ARRAY.to_le_bytes());
        v.extend_from_slice(&1u64.to_le_bytes());
    }
    assert!(matches!(
        err(&v),
        GgufError::TooLarge {
            what: "array nesting depth",
            ..
        }
    ));

    // Tensor checks.
    let tensor_err = |name: &str, dims: &[u64], ty: u32, offset: u64, data: usize| {
        let mut v = raw_header(1, 0);
        raw_tensor(&mut v, name, dims, ty, offset);
        GgufFile::from_bytes(&with_data(v, data)).unwrap_err()
    };
    assert!(matches!(
        tensor_err("t", &[1, 1, 1, 1, 1], 0, 0, 4),
        GgufError::InvalidTensor { .. }
    ));
    assert!(matches!(
        tensor_err("t", &[4], 5, 0, 64),
        GgufError::UnknownTensorType { type_id: 5, .. }
    ));
    assert!(matches!(
        tensor_err("t", &[16], GgmlType::Q4_0.0, 0, 64),
        GgufError::InvalidTensor { .. }
    ));
    assert!(matches!(
        tensor_err("t", &[4], 0, 8, 64),
        GgufError::InvalidTensor { .. }
    ));
    assert!(matches!(
        tensor_err("t", &[4], 0, 0, 15),
        GgufError::InvalidTensor { .. }
    ));
    assert!(matches!(
        tensor_err("t", &[1 << 62, 4], 0, 0, 15),
        GgufError::InvalidTensor { .. }
    ));
    assert!(matches!(
        tensor_err("t", &[u64::MAX], 0, 0, 15),
        GgufError::InvalidTensor { .. }
    ));
    assert!(matches!(
        tensor_err("t", &[4], 0, u64::MAX - 31, 16),
        GgufError::InvalidTensor { .. }
    ));
    assert!(matches!(
        tensor_err(&"n".repeat(64), &[4], 0, 0, 16),
        GgufError::InvalidTensor { .. }
    ));
    let e = tensor_err("t", &[4], 0, 0, 15);
    assert!(e.to_string().contains("past the end"), "{e}");
    // Zero-sized and zero-dim tensors are fine, as in ggml.
    let mut v = raw_header(2, 0);
    raw_tensor(&mut v, "zero", &[4, 0], 0, 0);
    raw_tensor(&mut v, "scalar", &[], 0, 0);
    let f = GgufFile::from_bytes(&with_data(v, 4)).unwrap();
    assert_eq!(f.tensors[0].n_bytes(), 0);
    assert_eq!(f.tensors[1].n_elements(), 1);
    assert_eq!(f.tensors[1].n_bytes(), 4);
    // Duplicate tensor names.
    let mut v = raw_header(2, 0);
    raw_tensor(&mut v, "t", &[4], 0, 0);
    raw_tensor(&mut v, "t", &[4], 0, 32);
    assert!(
        matches!(GgufFile::from_bytes(&with_data(v, 64)), Err(GgufError::DuplicateTensor(n)) if n == "t")
    );
}

#[test]
fn io_errors_are_not_truncation() {
    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("disk on fire"))
        }
    }
    assert!(matches!(
        GgufFile::read_header(Failing, None),
        Err(GgufError::Io(_))
    ));
}
