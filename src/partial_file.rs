//! Writing a file under a temporary `NAME.partial` name that is renamed to
//! `NAME` only once the file is complete, so an interrupted or failed run
//! never leaves a truncated model under the final name.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// The temporary name of `target`: `NAME.partial` in the same directory, so
/// the final rename never crosses file systems.
pub fn partial_path(target: &Path) -> io::Result<PathBuf> {
    let mut name = target
        .file_name()
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("output path {} has no file name", target.display()),
            )
        })?
        .to_os_string();
    name.push(".partial");
    Ok(target.with_file_name(name))
}

/// A file being written under its [`partial_path`]. [`commit`](Self::commit)
/// gives it its final name; dropping it uncommitted deletes it, so every
/// error path cleans up without a word.
#[derive(Debug)]
pub struct PartialFile {
    partial: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl PartialFile {
    /// Creates (or truncates) `target`'s partial file and returns it with the
    /// handle to write through. `target` itself is not touched.
    pub fn create(target: &Path) -> io::Result<(Self, File)> {
        let partial = partial_path(target)?;
        let file = File::create(&partial)?;
        let this = Self {
            partial,
            target: target.to_owned(),
            committed: false,
        };
        Ok((this, file))
    }

    /// Where the data is being written (to read it back before committing).
    pub fn path(&self) -> &Path {
        &self.partial
    }

    /// Flushes the written data to disk, then renames the file to its final
    /// name, replacing what was there. Call it after every writer of the file
    /// has been flushed and dropped.
    pub fn commit(mut self) -> io::Result<()> {
        // Sync first: otherwise a crash after the rename could leave the
        // final name pointing at data that only ever reached the page cache.
        File::open(&self.partial)?.sync_all()?;
        std::fs::rename(&self.partial, &self.target)?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: the error being reported is the one that matters.
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A fresh directory holding `model.gguf` = "old", and a partial file
    /// for it with `data` written and its handle closed.
    fn old_target_and_partial(tag: &str, data: &[u8]) -> (PathBuf, PathBuf, PartialFile) {
        let dir = std::env::temp_dir().join(format!("partial-file-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("model.gguf");
        std::fs::write(&target, b"old").unwrap();
        let (partial, mut file) = PartialFile::create(&target).unwrap();
        file.write_all(data).unwrap();
        (dir, target, partial)
    }

    #[test]
    fn commit_renames_into_place() {
        let (dir, target, partial) = old_target_and_partial("commit", b"new data");
        assert_eq!(partial.path(), dir.join("model.gguf.partial"));
        // Until the commit the old file is untouched.
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        partial.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new data");
        assert!(!dir.join("model.gguf.partial").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn dropping_uncommitted_removes_only_the_partial_file() {
        let (dir, target, partial) = old_target_and_partial("drop", b"half a fi");
        assert!(dir.join("model.gguf.partial").exists());
        drop(partial);
        assert!(!dir.join("model.gguf.partial").exists());
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_path_without_file_name_is_an_error() {
        let err = partial_path(Path::new("/")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(PartialFile::create(Path::new("")).is_err());
    }
}
