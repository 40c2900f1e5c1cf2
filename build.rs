//! Link the PAM module with packed relative relocations (DT_RELR): about 160 KB
//! of the module's RELA entries become 2 KB. Only when building for the glibc
//! of this machine and it is 2.36 or later, since an older ld.so cannot read
//! them (the module then needs GLIBC_ABI_DT_RELR, which such a glibc lacks).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_default();
    let gnu = std::env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|e| e == "gnu");
    if target != host || !gnu || !glibc_reads_relr() {
        return;
    }
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,pack-relative-relocs");
}

/// `getconf GNU_LIBC_VERSION` says "glibc 2.36" or later.
fn glibc_reads_relr() -> bool {
    let Ok(out) = Command::new("getconf").arg("GNU_LIBC_VERSION").output() else { return false };
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(version) = text.trim().strip_prefix("glibc ") else { return false };
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (2, 36)
}
