//! Random but valid tensor data: the generator, the per-type fills and the
//! tiles the tensors are cut from (see the module docs of `synth`).

use std::collections::HashMap;
use std::io::{self, Write};

use super::{Dtype, Fill, TensorSpec};

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, good enough here.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator with this state.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Bytes of one random tile (rounded down to whole blocks).
const TILE_BYTES: u64 = 4 << 20;

fn fill_words(buf: &mut [u8], rng: &mut SplitMix64, f: impl Fn(u64) -> u64) {
    let mut chunks = buf.chunks_exact_mut(8);
    for c in &mut chunks {
        c.copy_from_slice(&f(rng.next_u64()).to_le_bytes());
    }
    let rem = chunks.into_remainder();
    if !rem.is_empty() {
        let w = f(rng.next_u64()).to_le_bytes();
        let n = rem.len();
        rem.copy_from_slice(&w[..n]);
    }
}

/// f16 lanes: random sign and mantissa, exponent field 6..=9 (2^-9 ..= 2^-6).
#[inline]
fn f16_lanes(r: u64) -> u64 {
    (r & 0x83FF_83FF_83FF_83FF)
        | ((((r >> 10) & 0x0003_0003_0003_0003) + 0x0006_0006_0006_0006) << 10)
}

/// bf16 lanes: random sign and mantissa, exponent field 118..=121 (2^-9 ..= 2^-6).
#[inline]
fn bf16_lanes(r: u64) -> u64 {
    (r & 0x807F_807F_807F_807F)
        | ((((r >> 7) & 0x0003_0003_0003_0003) + 0x0076_0076_0076_0076) << 7)
}

/// f32 lanes: random sign and mantissa, exponent field 118..=121 (2^-9 ..= 2^-6).
#[inline]
fn f32_lanes(r: u64) -> u64 {
    (r & 0x807F_FFFF_807F_FFFF)
        | ((((r >> 23) & 0x0000_0003_0000_0003) + 0x0000_0076_0000_0076) << 23)
}

/// Sets the f16 at `b[at..at + 2]` to a positive normal number with exponent
/// field `exp` and the mantissa it already had (random).
#[inline]
fn patch_f16(b: &mut [u8], at: usize, exp: u16) {
    let x = u16::from_le_bytes([b[at], b[at + 1]]);
    let d = (x & 0x03FF) | (exp << 10);
    b[at..at + 2].copy_from_slice(&d.to_le_bytes());
}

/// Fills `buf` (a whole number of blocks) with random valid data of `dtype`.
pub fn fill_random(dtype: Dtype, buf: &mut [u8], rng: &mut SplitMix64) {
    let bb = dtype.block_bytes() as usize;
    assert_eq!(buf.len() % bb, 0, "buffer is not a whole number of blocks");
    match dtype {
        Dtype::F32 => fill_words(buf, rng, f32_lanes),
        Dtype::F16 => fill_words(buf, rng, f16_lanes),
        Dtype::BF16 => fill_words(buf, rng, bf16_lanes),
        Dtype::Q8_0 => {
            fill_words(buf, rng, |r| r);
            for b in buf.chunks_exact_mut(bb) {
                patch_f16(b, 0, 3); // d in [2^-12, 2^-11)
            }
        }
        Dtype::Q4K => {
            fill_words(buf, rng, |r| r);
            for b in buf.chunks_exact_mut(bb) {
                patch_f16(b, 0, 1); // d in [2^-14, 2^-13)
                patch_f16(b, 2, 1); // dmin in [2^-14, 2^-13)
            }
        }
        Dtype::Q6K => {
            fill_words(buf, rng, |r| r);
            for b in buf.chunks_exact_mut(bb) {
                patch_f16(b, 208, 1); // d in [2^-14, 2^-13)
            }
        }
        Dtype::Mxfp4 => {
            fill_words(buf, rng, |r| r);
            for b in buf.chunks_exact_mut(bb) {
                b[0] = 118 + (b[0] & 3); // E8M0 scale 2^-9 ..= 2^-6
            }
        }
    }
}

/// IEEE half from f32 (round to nearest even; normal range and zero, which
/// is all the constants here need).
pub(super) fn f32_to_f16_bits(x: f32) -> u16 {
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xFF) as i32 - 127 + 15;
    let man = b & 0x7F_FFFF;
    if x == 0.0 {
        return sign;
    }
    assert!(
        (1..31).contains(&exp),
        "constant {x} is out of the f16 normal range"
    );
    let mut h = ((exp as u32) << 10) | (man >> 13);
    let rest = man & 0x1FFF;
    if rest > 0x1000 || (rest == 0x1000 && (h & 1) == 1) {
        h += 1;
    }
    sign | h as u16
}

pub(super) fn fill_const(dtype: Dtype, value: f32, buf: &mut [u8]) {
    match dtype {
        Dtype::F32 => {
            for c in buf.chunks_exact_mut(4) {
                c.copy_from_slice(&value.to_le_bytes());
            }
        }
        Dtype::F16 => {
            let h = f32_to_f16_bits(value).to_le_bytes();
            for c in buf.chunks_exact_mut(2) {
                c.copy_from_slice(&h);
            }
        }
        Dtype::BF16 => {
            let b = value.to_bits();
            let h = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) as u16;
            for c in buf.chunks_exact_mut(2) {
                c.copy_from_slice(&h.to_le_bytes());
            }
        }
        _ => unreachable!("constant fill of a quantized type (rejected by build)"),
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum TileKey {
    Random(Dtype),
    Const(Dtype, u32),
}

/// The tiles of valid blocks the tensors are cut from.
pub(super) struct Tiles {
    seed: u64,
    tiles: HashMap<TileKey, Vec<u8>>,
}

impl Tiles {
    pub(super) fn new(seed: u64) -> Self {
        Tiles {
            seed,
            tiles: HashMap::new(),
        }
    }

    fn tile(&mut self, dtype: Dtype, fill: Fill) -> &[u8] {
        let key = match fill {
            Fill::Random => TileKey::Random(dtype),
            Fill::Const(v) => TileKey::Const(dtype, v.to_bits()),
        };
        let seed = self.seed;
        self.tiles.entry(key).or_insert_with(|| {
            let bb = dtype.block_bytes();
            let mut buf = vec![0u8; (TILE_BYTES / bb * bb) as usize];
            match fill {
                Fill::Random => {
                    let mut rng = SplitMix64::new(mix(seed, 0x7117_0000 + dtype.ggml_id() as u64));
                    fill_random(dtype, &mut buf, &mut rng);
                }
                Fill::Const(v) => fill_const(dtype, v, &mut buf),
            }
            buf
        })
    }

    /// Writes the `index`-th tensor's data: random block-aligned suffixes of
    /// the tile (each starting in its first half) until `spec.n_bytes()`.
    pub(super) fn stream(
        &mut self,
        index: usize,
        spec: &TensorSpec,
        out: &mut dyn Write,
        progress: &mut dyn FnMut(u64),
    ) -> io::Result<()> {
        let bb = spec.dtype.block_bytes();
        let mut rng = SplitMix64::new(mix(self.seed, index as u64 + 1));
        let tile = self.tile(spec.dtype, spec.fill);
        let half_blocks = (tile.len() as u64 / bb).div_ceil(2);
        let mut left = spec.n_bytes();
        while left > 0 {
            let start = (rng.next_u64() % half_blocks * bb) as usize;
            let n = left.min((tile.len() - start) as u64) as usize;
            out.write_all(&tile[start..start + n])?;
            left -= n as u64;
            progress(n as u64);
        }
        Ok(())
    }
}

/// Mixes a seed and a stream id into a generator state.
fn mix(seed: u64, stream: u64) -> u64 {
    let mut g = SplitMix64::new(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
    g.next_u64()
}
