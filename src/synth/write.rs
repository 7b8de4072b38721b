//! Streaming a [`ModelSpec`] into a GGUF file.

use std::io::{self, BufWriter, Write};
use std::path::Path;

use super::fill::Tiles;
use super::{ModelSpec, SynthError};
use crate::partial_file::PartialFile;

/// Writes the GGUF file of `spec` to `out`, calling `progress` with the
/// number of tensor-data bytes written so far. Returns the bytes written.
pub fn write_gguf<W: Write>(
    spec: &ModelSpec,
    out: W,
    seed: u64,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, SynthError> {
    let writer = spec.gguf_writer()?;
    let mut tiles = Tiles::new(seed);
    let mut done = 0u64;
    let n = writer.write(out, |i, info, w| {
        let t = &spec.tensors[i];
        debug_assert_eq!(info.name, t.name);
        if info.n_bytes() != t.n_bytes() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: writer expects {} bytes, synth computed {}",
                    t.name,
                    info.n_bytes(),
                    t.n_bytes()
                ),
            ));
        }
        tiles.stream(i, t, w, &mut |k| {
            done += k;
            progress(done);
        })
    })?;
    Ok(n)
}

/// Writes the file to `path` (through `path.partial`, renamed at the end so
/// an interrupted run leaves no truncated model behind). Returns its size.
pub fn write_file(
    spec: &ModelSpec,
    path: &Path,
    seed: u64,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, SynthError> {
    let io_error = |action| {
        move |source| SynthError::Io {
            action,
            path: path.to_owned(),
            source,
        }
    };
    let (partial, file) = PartialFile::create(path).map_err(io_error("creating"))?;
    let mut w = BufWriter::with_capacity(8 << 20, file);
    let n = write_gguf(spec, &mut w, seed, progress)?;
    w.into_inner()
        .map_err(|e| e.into_error())
        .map_err(io_error("writing"))?;
    partial.commit().map_err(io_error("renaming to"))?;
    Ok(n)
}

/// Formats a byte count as GB (10^9) and GiB.
pub fn human_bytes(n: u64) -> String {
    format!(
        "{:.2} GB / {:.2} GiB",
        n as f64 / 1e9,
        n as f64 / (1u64 << 30) as f64
    )
}
