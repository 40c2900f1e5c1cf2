//! The shared test harness itself: a skip is visible and names the test and
//! the reason, and the system's library paths are asked of the system.

mod common;

use std::process::Command;

/// Run by `an_unmet_need_ends_the_test_with_a_visible_line` only (in a child
/// test process): the need is unmet, so the panic below must never run.
#[test]
#[ignore = "run as a child by an_unmet_need_ends_the_test_with_a_visible_line"]
fn skips_for_a_missing_program() {
    require!(Programs(&["smsotp-no-such-program"]));
    panic!("require! let the test go on without its program");
}

#[test]
fn an_unmet_need_ends_the_test_with_a_visible_line() {
    let exe = std::env::current_exe().expect("this test binary");
    let out = Command::new(exe)
        .args(["--exact", "skips_for_a_missing_program", "--ignored", "--nocapture", "--test-threads=1"])
        .output()
        .expect("run the skipping test");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the skipped test passed, not failed: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("SKIPPED")).collect();
    assert_eq!(lines, ["SKIPPED: skips_for_a_missing_program: needs the program `smsotp-no-such-program`"], "{stderr}");
}

#[test]
fn the_test_name_is_the_one_libtest_shows() {
    assert_eq!(test_name!(), "the_test_name_is_the_one_libtest_shows");
    let in_a_closure = || test_name!();
    assert_eq!(in_a_closure(), "the_test_name_is_the_one_libtest_shows");
}

#[test]
fn needs_the_machine_meets_say_nothing() {
    assert_eq!(common::skip::first_unmet(&[common::skip::Need::Programs(&["sh"])]), None);
    assert!(common::skip::first_unmet(&[common::skip::Need::Programs(&["sh", "smsotp-no-such-program"])]).is_some());
}

#[test]
fn library_paths_come_from_the_system() {
    let triple = common::arch::multiarch();
    assert!(!triple.is_empty() && !triple.contains('/') && !triple.contains(char::is_whitespace), "{triple:?}");
    if let Ok(out) = Command::new("dpkg-architecture").arg("-qDEB_HOST_MULTIARCH").output()
        && out.status.success()
    {
        assert_eq!(triple, String::from_utf8_lossy(&out.stdout).trim(), "dpkg-architecture is asked first");
    }
    if common::skip::Need::PamWrapper.unmet().is_none() {
        assert!(common::arch::security_dir().join("pam_permit.so").exists(), "{}", common::arch::security_dir().display());
    }
}
