//! Which llama.cpp a prebuilt library (`LLAMA_CPP_LIB_DIR`) was built from.
//!
//! The shim is compiled against the vendored tree's internal headers
//! (`llama_model`'s layout), and the committed bindings against its public
//! ones: linking them to another llama.cpp release is an ABI/ODR violation
//! that shows up as a crash, or not at all. libllama has no version symbol,
//! but cmake records `LLAMA_BUILD_COMMIT` and `LLAMA_BUILD_NUMBER` in
//! `llama-config.cmake`, installed beside the libraries.
//!
//! Pure functions of the file system, so `tests/version_check.rs` includes
//! this file and tests them.

use std::path::{Path, PathBuf};

/// What a llama.cpp build recorded about its sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    /// `LLAMA_BUILD_COMMIT`: a short hash, or `unknown` outside git.
    pub commit: Option<String>,
    /// `LLAMA_BUILD_NUMBER`: the release number (b10200 is 10200) when set
    /// explicitly, else git's commit count, or 0 outside git.
    pub number: Option<u64>,
    /// The file it was read from.
    pub file: PathBuf,
}

/// Where `llama-config.cmake` lies relative to the library folder: an
/// install prefix (`<prefix>/lib/cmake/llama/`), or the top of a build tree
/// whose libraries are in `bin/` or `lib/`.
pub fn config_candidates(lib_dir: &Path) -> [PathBuf; 2] {
    [
        lib_dir.join("cmake/llama/llama-config.cmake"),
        lib_dir.join("../llama-config.cmake"),
    ]
}

/// The build info of the library in `lib_dir`, if its config file exists.
pub fn read(lib_dir: &Path) -> Option<BuildInfo> {
    config_candidates(lib_dir).into_iter().find_map(|file| {
        let text = std::fs::read_to_string(&file).ok()?;
        Some(parse(&text, file))
    })
}

/// Reads the `set(LLAMA_BUILD_COMMIT …)` and `set(LLAMA_BUILD_NUMBER …)`
/// lines of a `llama-config.cmake`.
pub fn parse(text: &str, file: PathBuf) -> BuildInfo {
    let value = |name: &str| {
        text.lines().find_map(|line| {
            let rest = line.trim().strip_prefix("set(")?.strip_suffix(')')?;
            let (key, value) = rest.split_once(char::is_whitespace)?;
            (key == name).then(|| value.trim().trim_matches('"').to_owned())
        })
    };
    BuildInfo {
        commit: value("LLAMA_BUILD_COMMIT").filter(|c| !c.is_empty()),
        number: value("LLAMA_BUILD_NUMBER").and_then(|n| n.parse().ok()),
        file,
    }
}

/// Whether `info` describes a build of the pinned release: its commit names
/// the pinned one (a git checkout, or a build given `LLAMA_BUILD_COMMIT`);
/// without a commit, its build number is the release's. A different commit
/// is refused whatever the number says: cmake takes both from the git
/// repository around a tree that is not a checkout itself.
pub fn check(
    info: Option<&BuildInfo>,
    lib_dir: &Path,
    pinned_commit: &str,
    pinned_number: u64,
) -> Result<(), String> {
    let short = &pinned_commit[..7];
    let how_to_fix = format!(
        "Point LLAMA_CPP_LIB_DIR at a build of llama.cpp b{pinned_number} (commit {short}); a tree that\n\
         is not a git checkout of it needs `-DLLAMA_BUILD_COMMIT={short} -DLLAMA_BUILD_NUMBER={pinned_number}`\n\
         at cmake time. If you know the library is b{pinned_number}, set LLAMA_CPP_NO_VERSION_CHECK=1."
    );
    let Some(info) = info else {
        let [installed, build_tree] = config_candidates(lib_dir);
        return Err(format!(
            "LLAMA_CPP_LIB_DIR={}: cannot tell which llama.cpp this is: neither {} nor {} exists\n\
             (cmake writes llama-config.cmake there). The bindings and the shim are made for one release.\n{how_to_fix}",
            lib_dir.display(),
            installed.display(),
            build_tree.display()
        ));
    };
    let is_hash = |c: &str| c.len() >= 7 && c.bytes().all(|b| b.is_ascii_hexdigit());
    match info.commit.as_deref() {
        Some(commit) if is_hash(commit) => {
            let commit = commit.to_ascii_lowercase();
            if pinned_commit.starts_with(&commit) || commit.starts_with(pinned_commit) {
                return Ok(());
            }
        }
        _ if info.number == Some(pinned_number) => return Ok(()),
        _ => {}
    }
    Err(format!(
        "LLAMA_CPP_LIB_DIR={}: {} records llama.cpp commit {} (build number {}), but these bindings and\n\
         the shim are compiled for b{pinned_number}, commit {short}: linking them is undefined behaviour.\n{how_to_fix}",
        lib_dir.display(),
        info.file.display(),
        info.commit.as_deref().unwrap_or("(none)"),
        info.number.map_or_else(|| "(none)".to_owned(), |n| n.to_string()),
    ))
}
