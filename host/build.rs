//! Builds the zip-oss component and hands its path to the host as `ZIP_OSS_COMPONENT_WASM`,
//! so the binary embeds the exact component it was built with (no path to pass at run time).
//!
//! Same pattern as wasmtime's `crates/test-programs/artifacts/build.rs`: a nested
//! `cargo build --target wasm32-wasip2`, in a target dir of its own so it never waits on the
//! lock the outer build holds on its own target dir.

use sha2::Digest as _;
use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Variables the outer cargo sets for this build script (or a user set for the host build)
/// that would misdirect or break the nested wasm build.
const SCRUBBED_ENV: &[&str] = &[
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_ENCODED_RUSTDOCFLAGS",
    "RUSTFLAGS",
    "RUSTDOCFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_PKG_NAME",
    "OUT_DIR",
    "TARGET",
    "HOST",
    "PROFILE",
    "OPT_LEVEL",
    "DEBUG",
    "RUSTC_LINKER",
    "RUSTC_WORKSPACE_WRAPPER",
];

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest_dir.parent().unwrap().to_path_buf();
    // Every file the component is built from, and every folder (a file added): cargo
    // watches a folder named here by its own time alone, so a changed `core/src/…` left
    // the component as it was, and the binary embedded a stale one.
    for path in ["component/Cargo.toml", "core/Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", workspace.join(path).display());
    }
    for dir in ["component/src", "core/src", "wit"] {
        watch(&workspace.join(dir));
    }
    println!(
        "cargo:rerun-if-changed={}",
        workspace.join("Cargo.lock").display()
    );
    println!("cargo:rerun-if-env-changed=ZIP_OSS_SKIP_COMPONENT_BUILD");

    // Escape hatch while the component does not compile: embed nothing and require
    // `ZIP_OSS_COMPONENT=<path>` at run time instead.
    if env::var_os("ZIP_OSS_SKIP_COMPONENT_BUILD").is_some() {
        let empty = PathBuf::from(env::var_os("OUT_DIR").unwrap()).join("no-component.wasm");
        std::fs::write(&empty, b"").unwrap();
        println!("cargo:rustc-env=ZIP_OSS_COMPONENT_WASM={}", empty.display());
        println!("cargo:rustc-env=ZIP_OSS_COMPONENT_SHA256=");
        println!("cargo:warning=ZIP_OSS_SKIP_COMPONENT_BUILD set: no component embedded");
        return;
    }

    let target_dir = component_target_dir();
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&workspace)
        .args([
            "build",
            "-p",
            "zip-oss-component",
            "--target",
            "wasm32-wasip2",
            "--release",
        ])
        .arg("--target-dir")
        .arg(&target_dir);
    for var in SCRUBBED_ENV {
        cmd.env_remove(var);
    }
    // Per-target variables (e.g. CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS) only
    // concern the host target, and CARGO_CFG_*/CARGO_FEATURE_* describe this build script.
    for (key, _) in env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_CFG_") || key.starts_with("CARGO_FEATURE_") {
            cmd.env_remove(key.as_ref());
        }
    }
    let status = cmd.status().expect("failed to run cargo for the component");
    assert!(
        status.success(),
        "building zip-oss-component for wasm32-wasip2 failed"
    );

    let wasm = target_dir.join("wasm32-wasip2/release/zip_oss_component.wasm");
    assert!(wasm.exists(), "{} missing after build", wasm.display());
    // Embedded from a copy of this script's own, so the bytes and their hash below always
    // match (the component target dir is shared by debug and release builds, and the
    // other profile may rebuild it without this script running).
    let bytes = std::fs::read(&wasm).expect("reading the built component");
    let wasm = PathBuf::from(env::var_os("OUT_DIR").unwrap()).join("zip_oss_component.wasm");
    std::fs::write(&wasm, &bytes).expect("copying the built component");
    println!("cargo:rustc-env=ZIP_OSS_COMPONENT_WASM={}", wasm.display());
    // The compiled-component cache's key, so the host never reads the embedded bytes to
    // find its compiled code (host/src/compiled_cache.rs).
    let sha256 = hex::encode(sha2::Sha256::digest(&bytes));
    println!("cargo:rustc-env=ZIP_OSS_COMPONENT_SHA256={sha256}");
}

/// `<outer target dir>/component`: shared by debug and release host builds, but not the
/// outer target dir itself, whose lock the outer build holds while this script runs.
fn component_target_dir() -> PathBuf {
    // OUT_DIR = <target>[/<triple>]/<profile>/build/<pkg>-<hash>/out
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    let build = out_dir
        .ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "build"))
        .map(Path::to_path_buf);
    match build
        .as_deref()
        .and_then(Path::parent)
        .and_then(Path::parent)
    {
        Some(target) => target.join("component"),
        None => out_dir.join("component-target"),
    }
}

/// Names `dir`, its files and its folders, at any depth, for cargo to watch.
fn watch(dir: &Path) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            watch(&path);
        } else {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}
