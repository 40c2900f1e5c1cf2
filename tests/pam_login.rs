//! SMS-verified logins through real libpam (pam_wrapper), checking exact PAM
//! return codes, against the spool connector and a local fake gateway.

mod common;

use std::time::Duration;

use common::gateway::{Gateway, Mode, closed_port};
use common::*;

fn http_connector(name: &str, url: &str, extra: &str) -> String {
    format!(
        "[[connector]]\nname = \"{name}\"\ntype = \"http\"\nurl = \"{url}\"\nto_param = \"to\"\nbody_param = \"text\"\ntimeout = 3\n{extra}\n"
    )
}

fn codes_of(texts: &[String]) -> Vec<String> {
    texts.iter().map(|t| code_in(t)).collect()
}

#[test]
fn right_code_logs_in() {
    require!(Root, PamWrapper);
    let s = Setup::new("");
    let out = s.login(Stack::PasswordThenSms, &[Reply::Password, Reply::Code]);
    assert_eq!(out.rc, PAM_SUCCESS, "{out:?}");
    assert_eq!(out.setcred, Some(PAM_SUCCESS), "sm_setcred must not break the stack");
    let prompts = out.prompts();
    assert_eq!(prompts.len(), 2, "{prompts:?}");
    assert_eq!(prompts[1], "SMS code sent to +*********67: ");
    let texts = s.spool_texts();
    assert_eq!(texts.len(), 1);
    let code = code_in(&texts[0]);
    assert_eq!(code.len(), 6);
    assert!(code.bytes().all(|b| b.is_ascii_digit()));
    assert!(texts[0].starts_with(&format!("Code {code} for alice@")));
    let mode = std::fs::metadata(&s.spool).map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777).unwrap();
    assert_eq!(mode, 0o600, "the spool file holds codes");
    assert!(out.log.contains("verified by SMS code"), "{}", out.log);
}

#[test]
fn wrong_password_sends_no_sms() {
    require!(Root, PamWrapper);
    let s = Setup::new("");
    let out = s.login(Stack::PasswordThenSms, &[Reply::Text("nope".into()), Reply::Code]);
    assert_eq!(out.rc, PAM_AUTH_ERR);
    assert!(s.spool_texts().is_empty());
}

#[test]
fn wrong_then_right_code() {
    require!(Root, PamWrapper);
    let s = Setup::new("");
    let out = s.login(Stack::Probe, &[text("000000x"), Reply::Code]);
    assert_eq!(out.rc, PAM_SUCCESS, "{out:?}");
    assert_eq!(out.shown(), vec!["Wrong code."]);
}

#[test]
fn attempts_used_up_is_maxtries() {
    require!(Root, PamWrapper);
    let s = Setup::new("[otp]\nmax_attempts = 2\n");
    let out = s.login(Stack::Probe, &[text("1"), text("2"), Reply::Code]);
    assert_eq!(out.rc, PAM_MAXTRIES, "{out:?}");
    assert_eq!(out.shown(), vec!["Wrong code.", "Too many wrong codes."]);
    assert_eq!(out.prompts().len(), 2);
}

#[test]
fn expired_code_is_refused() {
    require!(Root, PamWrapper);
    let s = Setup::new("[otp]\nttl = 10\nmax_resends = 0\n");
    // answer the right code after the ttl: a pause in the middle of the script
    let out = s.login_as(USER, Stack::Probe, &[Reply::Code], &[], |s| {
        std::thread::sleep(Duration::from_millis(10_200));
        s.spool_texts()
    });
    assert_eq!(out.rc, PAM_AUTH_ERR, "{out:?}");
    assert_eq!(out.shown(), vec!["Code expired."]);
}

#[test]
fn resend_voids_the_old_code() {
    require!(Root, PamWrapper);
    let s = Setup::new("[otp]\nmax_attempts = 3\nmax_resends = 1\n");
    let out = s.login(Stack::Probe, &[text(""), Reply::CodeNumber(0), Reply::Code]);
    assert_eq!(out.rc, PAM_SUCCESS, "{out:?}");
    assert_eq!(s.spool_texts().len(), 2);
    assert_eq!(out.shown(), vec!["A new code was sent.", "Wrong code."]);
    // and the old code alone is not enough
    let s = Setup::new("[otp]\nmax_attempts = 2\nmax_resends = 1\n");
    let out = s.login(Stack::Probe, &[text(""), Reply::CodeNumber(0), Reply::CodeNumber(0)]);
    assert_eq!(out.rc, PAM_MAXTRIES, "{out:?}");
}

#[test]
fn unenrolled_under_both_policies() {
    require!(Root, PamWrapper);
    let s = Setup::new("");
    let out = s.login_as("mallory", Stack::Probe, &[Reply::Code], &[], |s| s.spool_texts());
    assert_eq!(out.rc, PAM_AUTH_ERR);
    let s = Setup::new("[policy]\nunenrolled = \"ignore\"\n");
    let out = s.login_as("mallory", Stack::Probe, &[], &[], |s| s.spool_texts());
    assert_eq!(out.rc, IGNORED, "{out:?}");
    // in a real stack, PAM_IGNORE lets the password decide
    let out = s.login_as("mallory", Stack::PasswordThenSms, &[Reply::Password], &[], |s| s.spool_texts());
    assert_eq!(out.rc, PAM_SUCCESS);
    assert!(s.spool_texts().is_empty());
}

#[test]
fn a_malformed_number_is_refused_with_a_log_line() {
    require!(Root, PamWrapper);
    let s = Setup::new("[policy]\nunenrolled = \"ignore\"\n");
    let out = s.login_as("carol", Stack::Probe, &[], &[], |s| s.spool_texts());
    assert_eq!(out.rc, PAM_AUTH_ERR, "{out:?}");
    assert!(out.log.contains("line 5") && out.log.contains("not an E.164 number"), "{}", out.log);
    assert!(out.log.contains("line 4: expected 'user  number'; line skipped"), "{}", out.log);
}

#[test]
fn every_connector_failing_under_each_policy() {
    require!(Root, PamWrapper);
    let gw = Gateway::start(Mode::text(500, "internal error"));
    let connectors = http_connector("one", &gw.url("/send"), "") + &http_connector("two", &gw.url("/send"), "");
    for (policy, rc) in [("unavailable", PAM_AUTHINFO_UNAVAIL), ("deny", PAM_AUTH_ERR)] {
        let s = Setup::with_connectors(&format!("[policy]\non_send_failure = \"{policy}\"\n{connectors}"), false);
        let out = s.login(Stack::Probe, &[Reply::Code]);
        assert_eq!(out.rc, rc, "{policy}: {out:?}");
        assert_eq!(out.shown(), vec!["The SMS code could not be sent; try again later."]);
        assert!(out.log.contains("connector one: HTTP status 500") && out.log.contains("connector two: HTTP status 500"), "{}", out.log);
    }
    let s = Setup::with_connectors(&format!("[policy]\non_send_failure = \"backup_only\"\n{connectors}"), false);
    let out = s.login(Stack::Probe, &[text("123456"), text("234567"), text("345678")]);
    assert_eq!(out.rc, PAM_MAXTRIES, "{out:?}");
    assert_eq!(out.prompts()[0], "No SMS can be sent now. Backup code: ");
    assert_eq!(gw.requests().len(), 6);
}

#[test]
fn failover_to_the_second_connector() {
    require!(Root, PamWrapper);
    let bad = Gateway::start(Mode::text(503, "busy"));
    let good = Gateway::start(Mode::json(201, r#"{"sid":"SM123"}"#));
    let connectors =
        http_connector("first", &bad.url("/send"), "") + &http_connector("second", &good.url("/send"), "message_id = \"/sid\"");
    let s = Setup::with_connectors(&connectors, false);
    let out = s.login_as(USER, Stack::Probe, &[Reply::Code], &[], |_| good.texts());
    assert_eq!(out.rc, PAM_SUCCESS, "{out:?}");
    assert_eq!(bad.requests().len(), 1);
    assert_eq!(good.requests().len(), 1);
    assert!(out.log.contains("connector first: HTTP status 503"), "{}", out.log);
    assert!(out.log.contains("via second, message id SM123"), "{}", out.log);
    let req = &good.requests()[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.field("to").as_deref(), Some(PHONE));
    assert_eq!(req.header("content-type"), Some("application/x-www-form-urlencoded"));
}

/// Each fault ends in PAM_AUTHINFO_UNAVAIL (the default policy) with its reason logged.
#[test]
fn gateway_faults_are_send_failures() {
    require!(Root, PamWrapper);
    let error_body = Gateway::start(Mode::json(200, r#"{"messages":[{"status":"2","error-text":"Missing to param"}]}"#));
    let garbage = Gateway::start(Mode::Garbage);
    let not_json = Gateway::start(Mode::text(200, "<html>oops</html>"));
    let e5xx = Gateway::start(Mode::text(502, "bad gateway"));
    let tls = Gateway::start_tls(Mode::json(200, "{}"));
    let refused = format!("http://127.0.0.1:{}/send", closed_port());
    let json_rule = "success_json = { pointer = \"/messages/0/status\", equals = \"0\" }";
    let cases = [
        (refused.clone(), "", "connection refused"),
        (e5xx.url("/send"), "", "HTTP status 502: bad gateway"),
        (error_body.url("/send"), json_rule, "/messages/0/status is \"2\", not \"0\""),
        (not_json.url("/send"), json_rule, "not JSON"),
        (garbage.url("/send"), "", "HTTP protocol error"),
        (tls.url("/send"), "", "TLS failed"),
    ];
    for (url, extra, reason) in cases {
        let s = Setup::with_connectors(&http_connector("gw", &url, extra), false);
        let out = s.login(Stack::Probe, &[Reply::Code]);
        assert_eq!(out.rc, PAM_AUTHINFO_UNAVAIL, "{url}: {out:?}");
        assert!(out.log.contains(reason), "{url}: expected {reason:?} in:\n{}", out.log);
    }
}

#[test]
fn a_hanging_gateway_cannot_outlast_the_budget() {
    require!(Root, PamWrapper);
    let hang = Gateway::start(Mode::Hang);
    let connectors = http_connector("slow1", &hang.url("/send"), "") + &http_connector("slow2", &hang.url("/send"), "");
    let s = Setup::with_connectors(&format!("[limits]\nlogin_budget = 4\n{connectors}"), false);
    let out = s.login(Stack::Probe, &[Reply::Code]);
    assert_eq!(out.rc, PAM_AUTHINFO_UNAVAIL, "{out:?}");
    assert!(out.log.contains("connector slow1: timed out"), "{}", out.log);
    // connector timeout 3 s, then only 1 s of the 4 s budget is left for the second
    assert!(out.elapsed < Duration::from_secs(7), "took {:?}", out.elapsed);
    assert!(out.elapsed >= Duration::from_secs(3), "took {:?}", out.elapsed);
}

#[test]
fn tls_gateway_trusted_through_ca_file() {
    require!(Root, PamWrapper);
    let tls = Gateway::start_tls(Mode::json(201, "{}"));
    let s = Setup::with_connectors("", false);
    let ca = s.path("gateway-ca.pem");
    write_private(&ca, tls.tls_cert_pem.as_deref().unwrap());
    let text = s.config_text() + &http_connector("tls", &tls.url("/send"), &format!("ca_file = \"{}\"", ca.display()));
    s.rewrite_config(&text);
    let out = s.login_as(USER, Stack::Probe, &[Reply::Code], &[], |_| tls.texts());
    assert_eq!(out.rc, PAM_SUCCESS, "{out:?}");
    assert_eq!(out.threads, 1, "the module must leave no thread behind in the host process");
}

#[test]
fn no_thread_is_started_even_when_a_send_times_out() {
    require!(Root, PamWrapper);
    let hang = Gateway::start(Mode::Hang);
    let s = Setup::with_connectors(
        &format!("[limits]\nlogin_budget = 2\n{}", http_connector("slow", &format!("http://localhost:{}/send", hang.port), "")),
        false,
    );
    let out = s.login(Stack::Probe, &[Reply::Code]);
    assert_eq!(out.rc, PAM_AUTHINFO_UNAVAIL, "{out:?}");
    assert_eq!(out.threads, 1, "a resolver or timeout thread was left running");
}

/// Not even a short-lived thread: every clone(2) the login makes is traced.
#[test]
fn no_thread_is_ever_created_during_an_https_send() {
    require!(Root, PamWrapper, Programs(&["strace"]));
    let tls = Gateway::start_tls(Mode::json(201, "{}"));
    let mut s = Setup::with_connectors("", false);
    let ca = s.path("gateway-ca.pem");
    write_private(&ca, tls.tls_cert_pem.as_deref().unwrap());
    let url = format!("https://localhost:{}/send", tls.port);
    s.rewrite_config(&(s.config_text() + &http_connector("tls", &url, &format!("ca_file = \"{}\"", ca.display()))));
    let trace = s.trace_clones();
    let out = s.login_as(USER, Stack::Probe, &[Reply::Code], &[], |_| tls.texts());
    assert_eq!(out.rc, PAM_SUCCESS, "{out:?}");
    let calls = std::fs::read_to_string(&trace).unwrap();
    assert!(calls.trim().is_empty(), "the login created threads or processes:\n{calls}");
}

#[test]
fn proxy_and_certificate_environment_changes_nothing() {
    require!(Root, PamWrapper);
    let tls = Gateway::start_tls(Mode::json(201, "{}"));
    let untrusted = Gateway::start_tls(Mode::json(201, "{}"));
    let mut s = Setup::with_connectors("", false);
    let ca = s.path("gateway-ca.pem");
    write_private(&ca, tls.tls_cert_pem.as_deref().unwrap());
    let untrusted_pem = s.path("untrusted.pem");
    write_private(&untrusted_pem, untrusted.tls_cert_pem.as_deref().unwrap());
    let dead_proxy = format!("http://127.0.0.1:{}", closed_port());
    for var in ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"] {
        s.env.push((var.into(), dead_proxy.clone()));
    }
    for var in ["SSL_CERT_FILE", "SSL_CERT_DIR"] {
        s.env.push((var.into(), untrusted_pem.display().to_string()));
    }
    // the proxy is ignored: the login goes straight to the gateway
    let text = s.config_text() + &http_connector("tls", &tls.url("/send"), &format!("ca_file = \"{}\"", ca.display()));
    s.rewrite_config(&text);
    let out = s.login_as(USER, Stack::Probe, &[Reply::Code], &[], |_| tls.texts());
    assert_eq!(out.rc, PAM_SUCCESS, "{out:?}");
    // SSL_CERT_FILE does not make an untrusted gateway trusted
    let s2 = Setup::with_connectors(&http_connector("untrusted", &untrusted.url("/send"), ""), false);
    let mut s2 = s2;
    s2.env = s.env.clone();
    let out = s2.login(Stack::Probe, &[Reply::Code]);
    assert_eq!(out.rc, PAM_AUTHINFO_UNAVAIL, "{out:?}");
    assert!(untrusted.requests().is_empty(), "no request may reach an untrusted TLS gateway");
}

#[test]
fn bad_permissions_unknown_keys_and_bad_arguments_are_service_errors() {
    require!(Root, PamWrapper);
    let mut s = Setup::new("");
    let good_config = s.config_text();
    std::fs::set_permissions(&s.config, std::os::unix::fs::PermissionsExt::from_mode(0o664)).unwrap();
    let out = s.login(Stack::Probe, &[Reply::Code]);
    assert_eq!(out.rc, PAM_SERVICE_ERR, "{out:?}");
    assert!(out.log.contains(&s.config.display().to_string()) && out.log.contains("0664"), "{}", out.log);
    assert_eq!(out.shown(), vec!["SMS verification is misconfigured; ask your administrator."]);

    s.rewrite_config(&(s.config_text() + "\n[otp]\nlenght = 6\n"));
    let out = s.login(Stack::Probe, &[Reply::Code]);
    assert_eq!(out.rc, PAM_SERVICE_ERR, "{out:?}");
    assert!(out.log.contains("key `lenght`"), "{}", out.log);

    let s2 = Setup::new("");
    std::os::unix::fs::chown(&s2.config, Some(65534), None).unwrap();
    let out = s2.login(Stack::Probe, &[Reply::Code]);
    assert_eq!(out.rc, PAM_SERVICE_ERR);
    assert!(out.log.contains("owned by uid 65534"), "{}", out.log);

    s.rewrite_config(&good_config);
    s.set_module_args("debug nullok");
    let out = s.login(Stack::Probe, &[Reply::Code]);
    assert_eq!(out.rc, PAM_SERVICE_ERR);
    assert!(out.log.contains("unknown module argument \"nullok\""), "{}", out.log);
}

/// The module links its own unwinder (module/build.rs): a panic inside the
/// built .so unwinds to the entry point, which answers PAM_SERVICE_ERR and
/// prints nothing, and the client process ends normally.
#[test]
fn a_panic_in_the_module_is_a_silent_service_error_and_the_host_lives_on() {
    require!(Root, PamWrapper);
    let mut s = Setup::new("");
    s.set_module_args("debug test_panic");
    let out = s.login(Stack::Probe, &[Reply::Code]);
    assert_eq!(out.rc, PAM_SERVICE_ERR, "{out:?}");
    assert!(!out.log.contains("135790") && !out.log.contains("panicked"), "{}", out.log);
    // the panic, not the argument parser (which refuses `test_panic` when the
    // module is built without the tests' feature)
    assert!(!out.log.contains("unknown module argument"), "{}", out.log);
    assert!(s.spool_texts().is_empty());
    s.set_module_args("debug");
    let out = s.login(Stack::Probe, &[Reply::Code]);
    assert_eq!(out.rc, PAM_SUCCESS, "{out:?}");
}

/// What sshd and sudo load with the module: libpam, libc and the dynamic
/// loader (the unwinder is linked in, module/build.rs), so no other library's
/// constructor runs in them (libgcc_s's asked the CPU for its features).
#[test]
fn the_module_needs_libpam_libc_and_the_loader_only() {
    require!(Programs(&["readelf"]));
    let out = std::process::Command::new("readelf").arg("-d").arg(module_path()).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let needed: Vec<&str> =
        text.lines().filter(|l| l.contains("(NEEDED)")).filter_map(|l| l.split('[').nth(1)?.split(']').next()).collect();
    assert!(!needed.is_empty(), "{text}");
    // elsewhere than x86_64 the module is linked with libgcc_s as rustc does
    let unwinder_linked_in = cfg!(target_arch = "x86_64");
    for lib in &needed {
        let expected = lib.starts_with("libpam.so") || lib.starts_with("libc.so") || lib.starts_with("ld-linux");
        assert!(expected || (!unwinder_linked_in && lib.starts_with("libgcc_s")), "{lib} in {needed:?}");
    }
}

/// A caller's small RLIMIT_FSIZE (sudo's and su's callers choose it): a limit
/// that holds the state lets the logins through (the redo records are padded
/// to whole pages only up to it), and a write past it (here the spool's)
/// fails with EFBIG instead of ending the host with SIGXFSZ, whose default a
/// C host keeps.
#[test]
fn a_small_file_size_limit_neither_fails_the_state_nor_kills_the_host() {
    require!(Root, PamWrapper);
    let mut s = Setup::new("");
    s.prefix = ["prlimit", "--fsize=1024", "--"].map(String::from).to_vec();
    let login = |s: &Setup| s.login_as(USER, Stack::Probe, &[Reply::Code], &["--sigxfsz-default"], |s| s.spool_texts());
    // both record files in use by the third login
    for n in 1..=3 {
        let out = login(&s);
        assert_eq!(out.rc, PAM_SUCCESS, "login {n}: {out:?}");
    }
    // the outbox grown past the limit with copies of its last line
    let text = std::fs::read_to_string(&s.spool).unwrap();
    let last = format!("{}\n", text.lines().last().unwrap());
    std::fs::write(&s.spool, last.repeat(1100 / last.len() + 1)).unwrap();
    let sent = s.spool_texts().len();
    let out = login(&s);
    assert_eq!(out.rc, PAM_AUTHINFO_UNAVAIL, "the spool cannot grow: no SMS, and the host lives: {out:?}");
    assert_eq!(s.spool_texts().len(), sent);
}

#[test]
fn unsafe_secret_file_is_a_service_error() {
    require!(Root, PamWrapper);
    let s = Setup::new("");
    let token = s.path("token");
    std::fs::write(&token, "tok\n").unwrap();
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o646)).unwrap();
    let text = s.config_text()
        + &http_connector("gw", "http://127.0.0.1:9/", &format!("auth = {{ type = \"bearer\", token_file = \"{}\" }}", token.display()));
    s.rewrite_config(&text);
    let out = s.login(Stack::Probe, &[Reply::Code]);
    assert_eq!(out.rc, PAM_SERVICE_ERR, "{out:?}");
    assert!(out.log.contains(&token.display().to_string()), "{}", out.log);
}

#[test]
fn conversation_failures_are_conv_err() {
    require!(Root, PamWrapper);
    let s = Setup::new("");
    let out = s.login(Stack::Probe, &[Reply::Fail]);
    assert_eq!(out.rc, PAM_CONV_ERR, "{out:?}");
    let out = s.login_as(USER, Stack::Probe, &[], &["--no-conv"], |s| s.spool_texts());
    assert_eq!(out.rc, PAM_CONV_ERR, "{out:?}");
}

#[test]
fn hostile_pam_items() {
    require!(Root, PamWrapper);
    let s = Setup::new("[policy]\ntrusted_networks = [\"127.0.0.0/8\"]\n");
    let out = s.login_as("al\tice", Stack::Probe, &[Reply::Code], &[], |s| s.spool_texts());
    assert_eq!(out.rc, PAM_USER_UNKNOWN, "{out:?}");
    let long = "a".repeat(300);
    let out = s.login_as(&long, Stack::Probe, &[Reply::Code], &[], |s| s.spool_texts());
    assert_eq!(out.rc, PAM_USER_UNKNOWN, "{out:?}");
    // an rhost that only looks like a trusted address is not trusted
    for rhost in ["127.0.0.1.evil.example", "127.0.0.1 ", "localhost", ""] {
        let out = s.login_as(USER, Stack::Probe, &[Reply::Code], &["--rhost", rhost], |s| s.spool_texts());
        assert_eq!(out.rc, PAM_SUCCESS, "{rhost:?}: {out:?}");
    }
    let out = s.login_as(USER, Stack::Probe, &[], &["--rhost", "127.0.0.9"], |s| s.spool_texts());
    assert_eq!(out.rc, IGNORED, "{out:?}");
}

#[test]
fn skip_and_only_groups_use_real_group_membership() {
    require!(Root, PamWrapper);
    // root is in group root; alice is not a system user, so lookups fail and the code is asked
    let s = Setup::new("[policy]\nskip_groups = [\"root\"]\n");
    std::fs::write(&s.phones, format!("root {PHONE}\n{USER} {PHONE}\n")).unwrap();
    let out = s.login_as("root", Stack::Probe, &[], &[], |s| s.spool_texts());
    assert_eq!(out.rc, IGNORED, "{out:?}");
    let out = s.login(Stack::Probe, &[Reply::Code]);
    assert_eq!(out.rc, PAM_SUCCESS, "{out:?}");
    let s = Setup::new("[policy]\nonly_groups = [\"root\"]\n");
    std::fs::write(&s.phones, format!("root {PHONE}\n")).unwrap();
    let out = s.login_as("root", Stack::Probe, &[Reply::Code], &[], |s| s.spool_texts());
    assert_eq!(out.rc, PAM_SUCCESS, "{out:?}");
    let out = s.login_as("daemon", Stack::Probe, &[], &[], |s| s.spool_texts());
    assert_eq!(out.rc, IGNORED, "{out:?}");
}

#[test]
fn nothing_secret_reaches_the_log_or_the_user() {
    require!(Root, PamWrapper);
    let gw =
        Gateway::start(Mode::json(400, &format!(r#"{{"code":21211,"message":"The 'To' number {PHONE} is not valid. Echo: %TEXT%"}}"#)));
    let good = Gateway::start(Mode::json(201, r#"{"sid":"SM1"}"#));
    let s = Setup::with_connectors(
        &(http_connector("bad", &gw.url("/send"), "auth = { type = \"bearer\", token = \"TOPSECRET-TOKEN\" }")
            + &http_connector("good", &good.url("/send"), "auth = { type = \"basic\", username = \"u\", password = \"PASSWORD-XYZ\" }")),
        false,
    );
    let out = s.login_as(USER, Stack::Probe, &[text("999999"), text(""), Reply::Code], &[], |_| good.texts());
    assert_eq!(out.rc, PAM_SUCCESS, "{out:?}");
    let codes = codes_of(&good.texts());
    assert_eq!(codes.len(), 2);
    let everything = format!("{}\n{:?}", out.log, out.messages);
    assert_no_secrets(&everything, &codes, &["TOPSECRET-TOKEN", "PASSWORD-XYZ", "dTpQQVNTV09SRC1YWVo"]);
    assert!(out.log.contains("+*********67"), "the masked number is logged: {}", out.log);
}

/// Supplementary groups count: a private mount namespace shows the login a copy
/// of /etc/group where `daemon` is a member of an extra group (the machine's own
/// file is untouched).
#[test]
fn supplementary_group_membership_counts() {
    require!(Root, PamWrapper);
    let mut s = Setup::new("[policy]\nskip_groups = [\"smsotp-sup\"]\n");
    std::fs::write(&s.phones, format!("daemon {PHONE}\n")).unwrap();
    let group = s.path("group");
    let mut groups = std::fs::read_to_string("/etc/group").unwrap();
    groups.push_str("smsotp-sup:x:4242:daemon\n");
    std::fs::write(&group, groups).unwrap();
    s.prefix = vec![
        "unshare".into(),
        "-m".into(),
        "--propagation".into(),
        "private".into(),
        "sh".into(),
        "-c".into(),
        format!("mount --bind {} /etc/group && exec \"$@\"", group.display()),
        "sh".into(),
    ];
    let out = s.login_as("daemon", Stack::Probe, &[], &[], |s| s.spool_texts());
    assert_eq!(out.rc, IGNORED, "{out:?}");
    // the same user without the extra group is asked for a code
    s.prefix.clear();
    let out = s.login_as("daemon", Stack::Probe, &[Reply::Code], &[], |s| s.spool_texts());
    assert_eq!(out.rc, PAM_SUCCESS, "{out:?}");
}

/// Real libpam (no pam_wrapper) and real pam_syslog(3): in a private mount
/// namespace, /etc/pam.d is the test's service directory and /dev/log is a
/// datagram socket of the test's own. Every line must be LOG_AUTHPRIV and read
/// `pam_smsotp(SERVICE:auth): ...`, with no code or full number in it.
#[test]
fn logs_go_to_syslog_as_authpriv_with_the_pam_prefix() {
    require!(Root, PamWrapper);
    use std::os::unix::net::UnixDatagram;
    let mut s = Setup::new("");
    // installed name, so libpam calls the module pam_smsotp in its log prefix
    let installed = s.path("pam_smsotp.so");
    std::fs::copy(module_path(), &installed).unwrap();
    s.module = installed;
    s.write_services();
    let socket = UnixDatagram::bind(s.path("log.sock")).unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    s.use_wrapper = false;
    let helper = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/with-private-syslog.sh");
    s.prefix = vec![
        "unshare".into(),
        "-m".into(),
        "--propagation".into(),
        "private".into(),
        helper.display().to_string(),
        s.dir.path().display().to_string(),
    ];
    let out = s.login(Stack::Probe, &[text("111111"), Reply::Code]);
    assert_eq!(out.rc, PAM_SUCCESS, "{out:?}");
    let mut lines = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = socket.recv(&mut buf) {
        lines.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let ours: Vec<&String> = lines.iter().filter(|l| l.contains("pam_smsotp(")).collect();
    assert!(ours.len() >= 3, "expected the module's lines, got {lines:?}");
    for line in &ours {
        let prio: u32 = line[1..line.find('>').unwrap()].parse().unwrap();
        assert_eq!(prio >> 3, 10, "not LOG_AUTHPRIV: {line}");
        assert!(line.contains("pam_smsotp(smsotp-probe:auth): "), "{line}");
    }
    let all = lines.join("\n");
    assert!(all.contains("verified by SMS code"), "{all}");
    assert_no_secrets(&all, &codes_of(&s.spool_texts()), &[]);
}

/// A stack run without root (a screen locker, a desktop keyring): the module
/// steps aside with PAM_IGNORE and a log line, and reads nothing.
#[test]
fn a_caller_that_is_not_root_gets_pam_ignore() {
    require!(Root, PamWrapper);
    let mut s = Setup::new("");
    // the unprivileged client reads only the service file (pam_wrapper copies the whole directory)
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(s.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let services = s.path("services");
    std::fs::create_dir(&services).unwrap();
    std::fs::copy(s.path("smsotp-probe"), services.join("smsotp-probe")).unwrap();
    std::fs::set_permissions(services.join("smsotp-probe"), std::fs::Permissions::from_mode(0o644)).unwrap();
    s.env.push(("PAM_WRAPPER_SERVICE_DIR".into(), services.display().to_string()));
    s.prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"].iter().map(|a| a.to_string()).collect();
    let out = s.login(Stack::Probe, &[Reply::Code]);
    assert_eq!(out.rc, IGNORED, "{out:?}");
    assert!(out.log.contains("not running as root"), "{}", out.log);
    assert!(s.spool_texts().is_empty());
}
