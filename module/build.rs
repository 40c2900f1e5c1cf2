//! Link arguments that make the PAM module smaller (it is loaded into every
//! sshd, sudo and su process):
//! - packed relative relocations (DT_RELR): about 160 KB of RELA entries
//!   become 2 KB. Only when building for the glibc of this machine and it is
//!   2.36 or later, since an older ld.so cannot read them (the module then
//!   needs GLIBC_ABI_DT_RELR, which such a glibc lacks);
//! - identical code folding (about 28 KB), which only LLD and gold know: only
//!   when rustc links with its own LLD (x86_64 Linux, rustc 1.90 or later) and
//!   the build does not choose another linker;
//! - the unwinder linked in (libgcc_eh.a, about 23 KB) instead of libgcc_s.so.1:
//!   loading libgcc_s runs its constructor, which asks the CPU for its features
//!   with a dozen CPUID instructions, each a trap to the hypervisor in a VM
//!   (~78 µs of every login measured here). Its symbols stay local to the module
//!   (the cdylib exports only pam_sm_*), and panics unwind only through the
//!   module's own frames (the entry points catch them). x86_64 only, where it is
//!   tested, and only when the C compiler has the archive.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    println!("cargo:rerun-if-env-changed=CC");
    let target = std::env::var("TARGET").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_default();
    let gnu = std::env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|e| e == "gnu");
    if target != host || !gnu {
        return;
    }
    if glibc_reads_relr() {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,pack-relative-relocs");
    }
    if links_with_rust_lld(&target) {
        println!("cargo:rustc-cdylib-link-arg=-Wl,--icf=all");
    }
    if target.starts_with("x86_64-") && has_static_unwinder() {
        println!("cargo:rustc-link-lib=static:-bundle=gcc_eh");
    }
}

/// `cc -print-file-name=libgcc_eh.a` names a file (it echoes the bare name
/// when it has none).
fn has_static_unwinder() -> bool {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let Ok(out) = Command::new(cc).arg("-print-file-name=libgcc_eh.a").output() else { return false };
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Path::new(&path).is_absolute() && Path::new(&path).is_file()
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

/// rustc's own LLD links this target: it ships one (rustup's toolchains do,
/// distributions' often do not) and no flag picks another linker.
fn links_with_rust_lld(target: &str) -> bool {
    if target != "x86_64-unknown-linux-gnu" {
        return false;
    }
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if flags.contains("linker") {
        return false;
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).args(["--print", "sysroot"]).output() else { return false };
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Path::new(&sysroot).join("lib/rustlib").join(target).join("bin/gcc-ld/ld.lld").exists()
}
