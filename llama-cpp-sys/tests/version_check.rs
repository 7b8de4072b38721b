//! The `LLAMA_CPP_LIB_DIR` version check of the build script
//! (`build/version.rs`, included here: build scripts have no test harness).

#[allow(dead_code)]
#[path = "../build/version.rs"]
mod version;

use std::path::{Path, PathBuf};

const PINNED: &str = "5f55650a78f92aff4d48d671423e888fac0469ff";

fn config(commit: &str, number: &str) -> String {
    format!(
        "set(LLAMA_VERSION      0.0.{number})\nset(LLAMA_BUILD_COMMIT {commit})\n\
         set(LLAMA_BUILD_NUMBER {number})\nset(LLAMA_SHARED_LIB   OFF)\n\n@PACKAGE_INIT@\n"
    )
}

fn checked(commit: &str, number: &str) -> Result<(), String> {
    let info = version::parse(&config(commit, number), PathBuf::from("llama-config.cmake"));
    version::check(Some(&info), Path::new("/lib"), PINNED, 10200)
}

#[test]
fn the_pinned_commit_passes_and_another_is_refused() {
    assert_eq!(checked("5f55650", "10200"), Ok(()));
    // A shallow git checkout of the tag: full-length hash, commit count 1.
    assert_eq!(checked("5f55650a78f9", "1"), Ok(()));
    // The repository around a vendored tree that is not a checkout.
    let err = checked("b27e4c3", "10200").unwrap_err();
    assert!(err.contains("b27e4c3") && err.contains("5f55650"), "{err}");
    assert!(err.contains("LLAMA_CPP_NO_VERSION_CHECK=1"), "{err}");
    assert!(checked("0123abc", "9000").is_err());
}

#[test]
fn without_a_commit_the_build_number_decides() {
    assert_eq!(checked("unknown", "10200"), Ok(()));
    assert!(checked("unknown", "0").is_err());
    assert!(checked("", "").is_err());
}

#[test]
fn the_config_is_found_in_an_install_prefix_and_in_a_build_tree() {
    let root = std::env::temp_dir().join(format!("llama-cpp-sys-version-{}", std::process::id()));
    let installed = root.join("prefix/lib");
    std::fs::create_dir_all(installed.join("cmake/llama")).unwrap();
    std::fs::write(
        installed.join("cmake/llama/llama-config.cmake"),
        config("5f55650", "10200"),
    )
    .unwrap();
    let info = version::read(&installed).expect("install prefix");
    assert_eq!(
        (info.commit.as_deref(), info.number),
        (Some("5f55650"), Some(10200))
    );

    let build_bin = root.join("build/bin");
    std::fs::create_dir_all(&build_bin).unwrap();
    std::fs::write(
        root.join("build/llama-config.cmake"),
        config("deadbee", "77"),
    )
    .unwrap();
    let info = version::read(&build_bin).expect("build tree");
    assert_eq!(info.commit.as_deref(), Some("deadbee"));

    let nothing = root.join("empty");
    std::fs::create_dir_all(&nothing).unwrap();
    let err =
        version::check(version::read(&nothing).as_ref(), &nothing, PINNED, 10200).unwrap_err();
    assert!(err.contains("cannot tell which llama.cpp"), "{err}");
    std::fs::remove_dir_all(&root).unwrap();
}
