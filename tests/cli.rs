//! The `smsotp` command: check, send-test, lookup, with their exit codes.

mod common;

use std::process::Command;

use common::gateway::{Gateway, Mode};
use common::*;

#[test]
fn check_prints_the_config_with_secrets_redacted() {
    require!(Root, PamWrapper);
    let s = Setup::new(
        "[[connector]]\nname = \"gw\"\ntype = \"http\"\nurl = \"https://sms.example.org/send\"\nto_param = \"to\"\nbody_param = \"text\"\nauth = { type = \"basic\", username = \"u\", password = \"HUNTER2-SECRET\" }\n",
    );
    let (rc, out) = smsotp(&s, &["check"]);
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains(": valid"), "{out}");
    assert!(out.contains("password = \"[redacted]\""), "{out}");
    assert!(!out.contains("HUNTER2-SECRET"), "{out}");
    assert!(out.contains("GSM-7 encoding"), "{out}");
    assert!(out.contains("1 SMS part(s)"), "{out}");
    assert!(out.contains("connector[0] gw (http)"), "{out}");
}

#[test]
fn check_warns_about_ucs2_and_long_templates() {
    require!(Root, PamWrapper);
    let s = Setup::new("");
    let text = s.config_text().replace("Code {code} for {user}@{host}", &format!("Ihr Anmeldecode – {{code}} {}", "x".repeat(80)));
    s.rewrite_config(&text);
    let (rc, out) = smsotp(&s, &["check"]);
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("UCS-2 encoding"), "{out}");
    assert!(out.contains("'–' is not in the GSM-7 alphabet"), "{out}");
    assert!(out.contains("needs 2 SMS parts"), "{out}");
}

#[test]
fn check_fails_on_a_bad_config_naming_file_line_and_key() {
    require!(Root, PamWrapper);
    let s = Setup::new("");
    s.rewrite_config(&(s.config_text() + "\n[otp]\nmax_atempts = 3\n"));
    let (rc, out) = smsotp(&s, &["check"]);
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains(&s.config.display().to_string()), "{out}");
    assert!(out.contains("key `max_atempts`"), "{out}");
    assert!(out.contains("line "), "{out}");
    std::fs::set_permissions(&s.config, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    let (rc, out) = smsotp(&s, &["check"]);
    assert_eq!(rc, 1);
    assert!(out.contains("0666"), "{out}");
}

#[test]
fn lookup_shows_the_masked_number_and_its_source() {
    require!(Root, PamWrapper);
    let s = Setup::new("");
    let (rc, out) = smsotp(&s, &["lookup", USER]);
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("alice: +*********67 from file"), "{out}");
    assert!(!out.contains("5551234567"), "{out}");
    let (rc, out) = smsotp(&s, &["lookup", "nobody"]);
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("no number found"), "{out}");
    let (rc, out) = smsotp(&s, &["lookup", "carol"]);
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("not an E.164 number"), "{out}");
}

#[test]
fn send_test_through_a_gateway_prints_the_answer() {
    require!(Root, PamWrapper);
    let gw = Gateway::start(Mode::json(201, r#"{"sid":"SM42"}"#));
    let s = Setup::with_connectors(
        &format!(
            "[[connector]]\nname = \"gw\"\ntype = \"http\"\nurl = \"{}\"\nto_param = \"to\"\nbody_param = \"text\"\nmessage_id = \"/sid\"\n",
            gw.url("/send")
        ),
        false,
    );
    let (rc, out) = smsotp(&s, &["send-test", "--to", "+44 7700 900123"]);
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("gw: sent to +**********23 (HTTP 201, message id SM42)"), "{out}");
    assert_eq!(gw.requests()[0].field("to").as_deref(), Some("+447700900123"));
    let (rc, out) = smsotp(&s, &["send-test", "--user", USER]);
    assert_eq!(rc, 0, "{out}");
    assert_eq!(gw.requests()[1].field("to").as_deref(), Some(PHONE));

    gw.set_mode(Mode::json(401, r#"{"message":"Authenticate"}"#));
    let (rc, out) = smsotp(&s, &["send-test", "--to", PHONE]);
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("gw: failed: HTTP status 401"), "{out}");
    let (rc, out) = smsotp(&s, &["send-test", "--to", "12"]);
    assert_eq!(rc, 1, "{out}");
    let (rc, out) = smsotp(&s, &["send-test", "--to", PHONE, "--connector", "nope"]);
    assert_eq!(rc, 1, "{out}");
}

#[test]
fn send_test_to_the_spool() {
    require!(Root, PamWrapper);
    let s = Setup::new("");
    let (rc, out) = smsotp(&s, &["send-test", "--user", USER]);
    assert_eq!(rc, 0, "{out}");
    assert_eq!(s.spool_texts().len(), 1);
    // the configured template ("Code {code} for {user}@{host}") with a test code
    let text = &s.spool_texts()[0];
    let code = code_in(text);
    assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()), "{text}");
    assert!(text.starts_with(&format!("Code {code} for {USER}@")), "{text}");
    assert!(out.contains("text: ") && out.contains("GSM-7 encoding, 1 SMS part(s)"), "the admin sees the cost: {out}");
    assert!(!out.contains(&code), "the test code is not printed: {out}");
    let (rc, out) = smsotp(&s, &["send-test", "--to", PHONE, "--text", "Grüße aus dem Test ✓"]);
    assert_eq!(rc, 0, "{out}");
    assert_eq!(s.spool_texts()[1], "Grüße aus dem Test ✓");
    assert!(out.contains("UCS-2 encoding"), "{out}");
}

/// `smsotp check` warns, in words an administrator acts on, of a configuration
/// that would lock everyone out or reach nobody.
#[test]
fn check_warns_of_what_would_lock_everyone_out_or_reach_nobody() {
    require!(Root, PamWrapper);
    let s = Setup::new("");
    let (rc, out) = smsotp(&s, &["check"]);
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("warning: only spool connectors are configured"), "{out}");
    assert!(!out.contains("no directory holds any number"), "{out}");
    assert!(!out.contains("network file system") && !out.contains("is on NFS"), "{out}");
    write_private(&s.phones, "# nobody yet\n");
    let (_, out) = smsotp(&s, &["check"]);
    assert!(out.contains("warning: no directory holds any number and [policy] unenrolled = \"deny\""), "{out}");
    s.rewrite_config(&s.config_text().replace("[message]", "[policy]\nunenrolled = \"ignore\"\n\n[message]"));
    let (_, out) = smsotp(&s, &["check"]);
    assert!(!out.contains("no directory holds any number"), "ignore lets users without a number in: {out}");
}

#[test]
fn usage_errors_exit_2() {
    let out = Command::new(smsotp_path()).arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(smsotp_path()).args(["send-test"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// send-test works with every kind of connector and prints the provider's answer.
#[test]
fn send_test_with_every_connector_kind() {
    require!(Root, PamWrapper);
    let twilio = Gateway::start(Mode::json(201, r#"{"sid":"SMabc"}"#));
    let kannel = Gateway::start(Mode::text(202, "0: Accepted for delivery"));
    let http = Gateway::start(Mode::json(200, r#"{"id":"h-1"}"#));
    let s = Setup::with_connectors("", false);
    let cmd = s.path("send-sms");
    std::fs::write(&cmd, "#!/bin/sh\necho \"queued for $SMSOTP_TO\"\n").unwrap();
    std::fs::set_permissions(&cmd, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let connectors = format!(
        "[[connector]]\nname = \"tw\"\ntype = \"twilio\"\nbase_url = \"{}\"\naccount_sid = \"AC1\"\nauth_token = \"TOKEN-XYZ\"\nfrom = \"+15550001111\"\n\
         [[connector]]\nname = \"kn\"\ntype = \"kannel\"\nbase_url = \"{}\"\nusername = \"u\"\npassword = \"KPASS-XYZ\"\n\
         [[connector]]\nname = \"gw\"\ntype = \"http\"\nurl = \"{}\"\nto_param = \"to\"\nbody_param = \"text\"\nmessage_id = \"/id\"\n\
         [[connector]]\nname = \"cmd\"\ntype = \"command\"\nargv = [\"{}\"]\n\
         [[connector]]\nname = \"sp\"\ntype = \"spool\"\npath = \"{}\"\n",
        twilio.url(""),
        kannel.url(""),
        http.url("/send"),
        cmd.display(),
        s.spool.display()
    );
    s.rewrite_config(&(s.config_text() + &connectors));
    for (name, expected) in [
        ("tw", "tw: sent to +*********67 (HTTP 201, message id SMabc)"),
        ("kn", "kn: sent to +*********67 (HTTP 202: 0: Accepted for delivery)"),
        ("gw", "gw: sent to +*********67 (HTTP 200, message id h-1)"),
        ("cmd", "cmd: sent to +*********67 (exit 0: queued for [redacted])"),
        ("sp", "sp: sent to +*********67 (appended to "),
    ] {
        let (rc, out) = smsotp(&s, &["send-test", "--user", USER, "--connector", name]);
        assert_eq!(rc, 0, "{name}: {out}");
        assert!(out.contains(expected), "{name}: {out}");
        assert_no_secrets(&out, &[], &["TOKEN-XYZ", "KPASS-XYZ"]);
    }
    assert_eq!(twilio.requests().len() + kannel.requests().len() + http.requests().len(), 3);
}

/// A distinct secret in every place a credential can be written: URL user info
/// and query, params, headers, auth, request body, proxy URLs, and every
/// preset's credential inline and in its `*_file`, base_url and proxy.
fn connectors_full_of_secrets(s: &Setup) -> (String, Vec<String>) {
    let secrets = std::cell::RefCell::new(Vec::new());
    let secret = |what: &str| {
        let v = format!("SeCrEt-{what}-{}", secrets.borrow().len());
        secrets.borrow_mut().push(v.clone());
        v
    };
    let file_secret = |what: &str| {
        let value = secret(what);
        let path = s.path(&format!("secret-{what}"));
        write_private(&path, &format!("{value}\n"));
        path.display().to_string()
    };
    let mut text = format!(
        "[[connector]]\nname = \"gw\"\ntype = \"http\"\nurl = \"https://{}:{}@sms.example.org/send?password={}&api_key={}\"\n\
         to_param = \"to\"\nbody_param = \"text\"\nparams = {{ api_key = \"{}\", password = \"{}\" }}\n\
         headers = {{ Authorization = \"Bearer {}\", \"X-Api-Key\" = \"{}\" }}\n\
         auth = {{ type = \"basic\", username = \"u\", password = \"{}\" }}\nproxy = \"http://{}:{}@127.0.0.1:3128\"\n\
         [[connector]]\nname = \"tpl\"\ntype = \"http\"\nurl = \"https://sms.example.org/send?token={}#{}\"\ncontent_type = \"json\"\n\
         body_template = '{{\"key\":\"{}\",\"to\":\"{{{{to}}}}\",\"text\":\"{{{{text}}}}\"}}'\n\
         auth = {{ type = \"bearer\", token = \"{}\" }}\n\
         [[connector]]\nname = \"gw-files\"\ntype = \"http\"\nurl = \"https://{}@sms.example.org/send\"\nto_param = \"to\"\nbody_param = \"text\"\n\
         auth = {{ type = \"basic\", username = \"u\", password_file = \"{}\" }}\n\
         [[connector]]\nname = \"tpl-files\"\ntype = \"http\"\nurl = \"https://sms.example.org/send/{{{{to}}}}/{{{{text}}}}?k={}\"\nmethod = \"GET\"\ncontent_type = \"none\"\n\
         auth = {{ type = \"bearer\", token_file = \"{}\" }}\n",
        secret("urluser"),
        secret("urlpass"),
        secret("querypass"),
        secret("querykey"),
        secret("paramkey"),
        secret("parampass"),
        secret("authheader"),
        secret("xapikey"),
        secret("basicpass"),
        secret("proxyuser"),
        secret("proxypass"),
        secret("tplquery"),
        secret("fragment"),
        secret("tplbody"),
        secret("bearer"),
        secret("bareuserinfo"),
        file_secret("basicfile"),
        secret("getquery"),
        file_secret("bearerfile"),
    );
    for (kind, fields, credential) in [
        ("twilio", "account_sid = \"AC1\"\nfrom = \"+15550001111\"\n", "auth_token"),
        ("vonage", "api_key = \"k\"\nfrom = \"ACME\"\n", "api_secret"),
        ("plivo", "auth_id = \"MA1\"\nfrom = \"+15550001111\"\n", "auth_token"),
        ("clickatell", "", "api_key"),
        ("bulksms", "username = \"u\"\n", "password"),
        ("messagebird", "from = \"ACME\"\n", "access_key"),
        ("sinch", "service_plan_id = \"p\"\nfrom = \"+15550001111\"\n", "api_token"),
        ("telnyx", "from = \"+15550001111\"\n", "api_key"),
        ("infobip", "", "api_key"),
        ("kannel", "username = \"u\"\n", "password"),
    ] {
        text += &format!(
            "[[connector]]\nname = \"{kind}-inline\"\ntype = \"{kind}\"\n{fields}{credential} = \"{}\"\n\
             base_url = \"https://{}:{}@{kind}.example.org/api?key={}\"\nproxy = \"http://u:{}@127.0.0.1:3128\"\n\
             [[connector]]\nname = \"{kind}-file\"\ntype = \"{kind}\"\n{fields}{credential}_file = \"{}\"\n\
             base_url = \"https://{kind}.example.org\"\nproxy = \"http://{}@127.0.0.1:3128/\"\n",
            secret(&format!("{kind}-inline")),
            secret(&format!("{kind}-urluser")),
            secret(&format!("{kind}-urlpass")),
            secret(&format!("{kind}-query")),
            secret(&format!("{kind}-proxypass")),
            file_secret(&format!("{kind}-file")),
            secret(&format!("{kind}-proxyuser")),
        );
    }
    (text, secrets.into_inner())
}

fn assert_none_of(out: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(!out.contains(secret.as_str()), "{secret} leaked:\n{out}");
    }
}

/// `smsotp check` prints the whole configuration and shows no secret at all.
#[test]
fn check_prints_no_secret_anywhere() {
    require!(Root, PamWrapper);
    let s = Setup::with_connectors("", false);
    let (connectors, secrets) = connectors_full_of_secrets(&s);
    s.rewrite_config(&(s.config_text() + &connectors));
    let (rc, out) = smsotp(&s, &["check"]);
    assert_eq!(rc, 0, "{out}");
    assert_none_of(&out, &secrets);
    // the configuration is still printed: every connector, names and hosts
    for shown in [
        "connector[0] gw (http)",
        "connector[23] kannel-file (kannel)",
        "https://[redacted]@sms.example.org/send?password=[redacted]&api_key=[redacted]",
        "http://[redacted]@127.0.0.1:3128",
        "https://[redacted]@twilio.example.org/api?key=[redacted]",
        "X-Api-Key = \"[redacted]\"",
        "auth_token = \"[redacted]\"",
    ] {
        assert!(out.contains(shown), "{shown} missing:\n{out}");
    }
    // with an LDAP directory whose bind password is in a file (the check binds)
    let bind = s.path("ldap-bind");
    write_private(&bind, "SeCrEt-ldap-bind\n");
    let ldap = format!(
        "[[directory]]\ntype = \"ldap\"\nurl = \"ldap://127.0.0.1:{}\"\nbase_dn = \"dc=example,dc=org\"\nbind_dn = \"cn=pam,dc=example,dc=org\"\nbind_password_file = \"{}\"\ntimeout = 1\n",
        common::gateway::closed_port(),
        bind.display()
    );
    s.rewrite_config(&(s.config_text() + &ldap));
    let (_, out) = smsotp(&s, &["check"]);
    assert!(out.contains("directory[1] ldap"), "{out}");
    assert_none_of(&out, &secrets);
    assert!(!out.contains("SeCrEt-ldap-bind"), "{out}");
}

/// A configuration that is refused names the key, never the secret in its value.
#[test]
fn check_refusals_print_no_secret() {
    require!(Root, PamWrapper);
    let s = Setup::with_connectors("", false);
    let base = s.config_text();
    let http = "[[connector]]\nname = \"gw\"\ntype = \"http\"\nto_param = \"to\"\nbody_param = \"text\"\n";
    let two_lines = s.path("two-lines");
    write_private(&two_lines, "SeCrEt-line-one\nSeCrEt-line-two\n");
    for (extra, key) in [
        (format!("{http}url = \"https://sms.example.org/\"\nproxy = \"socks5://u:SeCrEt-socks@127.0.0.1:1080\"\n"), "connector[0].proxy"),
        (
            format!("{http}url = \"https://sms.example.org/\"\nproxy = \"https://u:SeCrEt-https-proxy@127.0.0.1:1080\"\n"),
            "connector[0].proxy",
        ),
        (format!("{http}url = \"https://u:SeCrEt-v6@::1:8080/send\"\n"), "connector[0].url"),
        (format!("{http}url = \"https://u:SeCrEt-space@sms.example.org/a b\"\n"), "connector[0].url"),
        (
            format!("{http}url = \"https://sms.example.org/\"\nheaders = {{ \"X-Api-Key\" = \"SeCrEt-header\\r\\nX-Evil: 1\" }}\n"),
            "connector[0].headers",
        ),
        (
            format!("{http}url = \"https://sms.example.org/\"\nauth = {{ type = \"bearer\", token = \"SeCrEt-token\\n\" }}\n"),
            "connector[0].auth.token",
        ),
        (
            format!("{http}url = \"https://sms.example.org/\"\nauth = {{ type = \"bearer\", token_file = \"{}\" }}\n", two_lines.display()),
            "connector[0].auth.token_file",
        ),
        (
            "[[connector]]\ntype = \"kannel\"\nbase_url = \"http://127.0.0.1:13013\"\nusername = \"u\"\npassword = \"SeCrEt-kannel\\u0000\"\n".to_string(),
            "connector[0].password",
        ),
    ] {
        s.rewrite_config(&format!("{base}{extra}"));
        let (rc, out) = smsotp(&s, &["check"]);
        assert_eq!(rc, 1, "{extra}: {out}");
        assert!(out.contains(key), "{key} not named: {out}");
        assert!(!out.contains("SeCrEt"), "{out}");
    }
}

/// A CONNECT proxy on loopback for one tunnel at a time; records each request head.
struct ConnectProxy {
    port: u16,
    heads: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl ConnectProxy {
    fn start() -> ConnectProxy {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let heads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = heads.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let mut reader = BufReader::new(client.try_clone().unwrap());
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                seen.lock().unwrap().push(head.clone());
                let target = head.split_whitespace().nth(1).unwrap_or("").to_string();
                let mut client = client;
                let Ok(upstream) = std::net::TcpStream::connect(&target) else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n");
                    continue;
                };
                client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").unwrap();
                let (mut up_read, mut up_write) = (upstream.try_clone().unwrap(), upstream);
                let mut client_write = client.try_clone().unwrap();
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut reader, &mut up_write);
                    let _ = up_write.shutdown(std::net::Shutdown::Write);
                });
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut up_read, &mut client_write);
                    let _ = client_write.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        ConnectProxy { port, heads }
    }
}

/// `proxy = "http://user:pass@host:port"`, the one kind the validator accepts,
/// really carries the SMS: a CONNECT with the proxy credentials, then the request.
#[test]
fn send_test_through_an_http_proxy() {
    require!(Root, PamWrapper);
    let gw = Gateway::start(Mode::json(201, r#"{"sid":"SM-proxied"}"#));
    let proxy = ConnectProxy::start();
    let s = Setup::with_connectors(
        &format!(
            "[[connector]]\nname = \"gw\"\ntype = \"http\"\nurl = \"{}\"\nto_param = \"to\"\nbody_param = \"text\"\nmessage_id = \"/sid\"\nproxy = \"http://pxuser:PX-SECRET@127.0.0.1:{}\"\n",
            gw.url("/send"),
            proxy.port
        ),
        false,
    );
    let (rc, out) = smsotp(&s, &["send-test", "--to", PHONE]);
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("gw: sent to +*********67 (HTTP 201, message id SM-proxied)"), "{out}");
    assert!(!out.contains("PX-SECRET"), "{out}");
    let heads = proxy.heads.lock().unwrap().clone();
    assert_eq!(heads.len(), 1, "{heads:?}");
    let gw_port = gw.url("").rsplit(':').next().unwrap().to_string();
    assert!(heads[0].starts_with(&format!("CONNECT 127.0.0.1:{gw_port} ")), "{heads:?}");
    // base64("pxuser:PX-SECRET")
    assert!(heads[0].contains("Proxy-Authorization: Basic cHh1c2VyOlBYLVNFQ1JFVA=="), "{heads:?}");
    assert_eq!(gw.requests().len(), 1);
}
