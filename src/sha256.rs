//! SHA-256 of a model file, read in large chunks with progress reports, so
//! a report can name exactly which file was measured.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

/// The lowercase hex SHA-256 of the file at `path`. `progress` is called
/// with the number of bytes read after each chunk.
pub fn sha256_file(path: &Path, mut progress: impl FnMut(u64)) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 4 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        progress(n as u64);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests_and_progress_covers_the_file() {
        let path = std::env::temp_dir().join(format!("sha256-test-{}", std::process::id()));
        // FIPS 180-2 test vector "abc", and 9 MiB so that there are several chunks.
        std::fs::write(&path, b"abc").unwrap();
        let mut seen = 0;
        let digest = sha256_file(&path, |n| seen += n).unwrap();
        assert_eq!(
            digest,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(seen, 3);
        let big = vec![b'a'; 9 << 20];
        std::fs::write(&path, &big).unwrap();
        let mut calls = Vec::new();
        let digest = sha256_file(&path, |n| calls.push(n)).unwrap();
        assert_eq!(digest, format!("{:x}", Sha256::digest(&big)));
        assert!(calls.len() >= 3, "{calls:?}");
        assert_eq!(calls.iter().sum::<u64>(), 9 << 20);
        std::fs::remove_file(&path).unwrap();
        assert!(sha256_file(&path, |_| {}).is_err());
    }
}
