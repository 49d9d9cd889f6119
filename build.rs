//! Release builds of the binary put the functions of `layout/hot-functions.txt` first and
//! together (lld's `--symbol-ordering-file`): start-up and the everyday requests then touch
//! a few megabytes of code instead of faulting in nearly all of it, page cache around
//! page fault (measured: idle RSS 15.2 → 9.0 MiB). Only where the linker is known to be
//! lld: Rust's own on x86_64 Linux since 1.90, unless a linker is chosen by hand.
//! `USERSYNC_BOT_NO_LAYOUT=1` turns it off.

use std::env;
use std::path::Path;
use std::process::Command;

const LAYOUT: &str = "layout/hot-functions.txt";

fn main() {
    println!("cargo:rerun-if-changed={LAYOUT}");
    println!("cargo:rerun-if-changed=build.rs");
    for var in [
        "USERSYNC_BOT_NO_LAYOUT",
        "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let Some(why_not) = why_not_laid_out() else {
        let path = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join(LAYOUT);
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            path.display()
        );
        // Names the binary no longer has (the file is older than the code) are skipped.
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
        return;
    };
    if env::var("PROFILE").as_deref() == Ok("release") {
        println!("cargo:warning=function layout not applied: {why_not}");
    }
}

/// Why this build is not laid out, if it is not.
fn why_not_laid_out() -> Option<&'static str> {
    if env::var("PROFILE").as_deref() != Ok("release") {
        return Some("not a release build");
    }
    if env::var_os("USERSYNC_BOT_NO_LAYOUT").is_some_and(|v| v != "0") {
        return Some("USERSYNC_BOT_NO_LAYOUT is set");
    }
    if env::var("TARGET").as_deref() != Ok("x86_64-unknown-linux-gnu") {
        return Some("lld is Rust's default linker only on x86_64-unknown-linux-gnu");
    }
    let chosen = env::var_os("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_some()
        || env::var("CARGO_ENCODED_RUSTFLAGS").is_ok_and(|f| f.contains("link"));
    if chosen {
        return Some("a linker or link flags are chosen by hand");
    }
    if !rustc_links_with_lld() {
        return Some("this rustc (before 1.90) does not link with lld by default");
    }
    if !Path::new(LAYOUT).exists() {
        return Some("layout/hot-functions.txt is missing");
    }
    None
}

/// Whether the compiler is 1.90 or later, whose default linker on this target is lld.
fn rustc_links_with_lld() -> bool {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).arg("--version").output() else {
        return false;
    };
    let version = String::from_utf8_lossy(&out.stdout);
    let mut parts = version
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (1, 90)
}
