use super::*;

#[test]
fn empty_file_gives_the_documented_defaults() {
    let c = Config::parse("").unwrap();
    assert_eq!(c.otp.length, 6);
    assert_eq!(c.otp.charset, Charset::Digits);
    assert_eq!(c.otp.ttl, 300);
    assert_eq!(c.otp.max_attempts, 3);
    assert_eq!(c.otp.max_resends, 1);
    assert_eq!(c.otp.prompt, "SMS code sent to {phone}: ");
    assert!(!c.otp.echo);
    assert_eq!(c.policy.unenrolled, UnenrolledPolicy::Deny);
    assert_eq!(c.policy.on_send_failure, SendFailurePolicy::Unavailable);
    assert_eq!(c.policy.on_directory_failure, DirectoryFailurePolicy::Unavailable);
    assert_eq!(c.policy.grace, 0);
    assert_eq!(c.limits.max_sends_per_hour, 5);
    assert_eq!(c.limits.resend_cooldown, 30);
    assert_eq!(c.limits.lockout_failures, 10);
    assert_eq!(c.limits.lockout_window, 900);
    assert_eq!(c.limits.lockout_duration, 900);
    assert_eq!(c.state.dir, PathBuf::from("/var/lib/pam_smsotp"));
    assert!(c.backup_codes.enabled);
    assert!(matches!(&c.directories[..], [DirectoryConfig::File(f)] if f.path == Path::new(DEFAULT_PHONE_MAP)));
    assert!(matches!(&c.connectors[..], [ConnectorConfig::Spool(s)] if s.path == Path::new(DEFAULT_SPOOL_PATH)));
}

/// Every section and key of DESIGN.md's example parses.
#[test]
fn the_whole_design_contract_parses() {
    let text = r#"
[otp]
length = 8
charset = "alphanumeric"
ttl = 120
max_attempts = 5
max_resends = 2
prompt = "Code {seq} sent to {phone}: "
echo = true

[message]
template = "{code} is your login code for {host}. It expires in {ttl_minutes} min. {seq} {user} {service}"

[policy]
unenrolled = "ignore"
on_send_failure = "backup_only"
on_directory_failure = "next"
skip_groups = ["nomfa"]
only_groups = ["staff"]
trusted_networks = ["10.0.0.0/8", "2001:db8::/32", "192.0.2.1"]
grace = 60

[phone]
default_country_code = "+49"

[limits]
max_sends_per_hour = 7
resend_cooldown = 10
lockout_failures = 4
lockout_window = 100
lockout_duration = 200
login_budget = 20

[state]
dir = "/tmp/state"

[backup_codes]
enabled = true

[[directory]]
type = "file"
path = "/etc/security/pam_smsotp.phones"

[[directory]]
type = "ldif"
path = "/etc/security/people.ldif"
user_attribute = "uid"
phone_attributes = ["mobile", "telephoneNumber"]

[[directory]]
type = "ldap"
url = "ldaps://ldap.example.org"
base_dn = "ou=people,dc=example,dc=org"
filter = "(uid={user})"
phone_attributes = ["mobile"]
bind_dn = "cn=pam,dc=example,dc=org"
bind_password_file = "/etc/security/pam_smsotp.ldap"
ca_file = "/etc/ssl/certs/example-ca.pem"
timeout = 5

[[connector]]
name = "primary"
type = "twilio"
base_url = "https://api.twilio.com"
account_sid = "AC123"
auth_token_file = "/etc/security/pam_smsotp.d/twilio"
from = "+15550001111"
timeout = 10
proxy = "http://proxy.example.org:3128"
ca_file = "/etc/ssl/certs/private-ca.pem"

[[connector]]
name = "gateway"
type = "http"
url = "https://sms.example.org/send"
method = "POST"
content_type = "json"
to_param = "to"
body_param = "text"
from_param = "from"
from = "ACME"
params = { route = "otp" }
headers = { "X-Client" = "pam" }
auth = { type = "bearer", token_file = "/etc/security/pam_smsotp.d/gw" }
success_status = [200, 201, 202]
success_json = { pointer = "/messages/0/status", equals = "0" }
success_regex = "^0: "
message_id = "/sid"

[[connector]]
name = "templated"
type = "http"
url = "https://sms.example.org/send"
content_type = "json"
body_template = '{"messages":[{"to":"{{to}}","content":"{{text}}"}]}'

[[connector]]
name = "script"
type = "command"
argv = ["/usr/local/sbin/send-sms"]

[[connector]]
name = "spool"
type = "spool"
path = "/var/spool/pam_smsotp/outbox.jsonl"

[[connector]]
type = "vonage"
api_key = "k"
api_secret = "s"
from = "ACME"

[[connector]]
type = "plivo"
auth_id = "MA1"
auth_token = "t"
from = "+15550001111"

[[connector]]
type = "clickatell"
api_key = "k"

[[connector]]
type = "bulksms"
username = "u"
password = "p"

[[connector]]
type = "messagebird"
access_key = "k"
from = "ACME"

[[connector]]
type = "sinch"
service_plan_id = "p"
api_token = "t"
from = "+15550001111"
region = "eu"

[[connector]]
type = "telnyx"
api_key = "k"
from = "+15550001111"

[[connector]]
type = "infobip"
api_key = "k"
base_url = "https://xyz.api.infobip.com"

[[connector]]
type = "kannel"
base_url = "http://127.0.0.1:13013"
username = "u"
password = "p"
"#;
    let c = Config::parse(text).unwrap();
    assert_eq!(c.otp.length, 8);
    assert_eq!(c.policy.trusted_networks.len(), 3);
    assert_eq!(c.directories.len(), 3);
    assert_eq!(c.connectors.len(), 14);
    assert_eq!(c.connectors[0].display_name(0), "primary");
    assert_eq!(c.connectors[5].display_name(5), "vonage#6");
}

fn error_of(text: &str) -> String {
    Config::parse(text).unwrap_err().to_string()
}

#[test]
fn unknown_keys_are_rejected_with_line_and_key() {
    let e = error_of("[otp]\nlength = 6\nlenght = 7\n");
    assert!(e.contains("lenght"), "{e}");
    assert!(e.contains("line 3"), "{e}");
    let e = error_of("[otpp]\n");
    assert!(e.contains("otpp"), "{e}");
    let e = error_of("[[connector]]\ntype = \"spool\"\npath = \"/x\"\ncolour = 1\n");
    assert!(e.contains("colour"), "{e}");
    let e = error_of(
        "[[connector]]\ntype = \"http\"\nurl = \"https://x\"\nto_param = \"t\"\nbody_param = \"b\"\nauth = { type = \"none\", anything = 1 }\n",
    );
    assert!(e.contains("anything"), "{e}");
    let e = error_of("[[connector]]\ntype = \"carrier-pigeon\"\n");
    assert!(e.contains("carrier-pigeon"), "{e}");
    assert!(!e.contains('\n'), "one line for syslog: {e}");
}

#[test]
fn wrong_types_are_rejected() {
    let e = error_of("[otp]\nlength = \"six\"\n");
    assert!(e.contains("length") || e.contains("line 2"), "{e}");
    assert!(error_of("[otp]\necho = 1\n").contains("line 2"));
    assert!(error_of("[policy]\nunenrolled = \"maybe\"\n").contains("maybe"));
    assert!(error_of("[policy]\ntrusted_networks = [\"10.0.0.0/33\"]\n").contains("10.0.0.0/33"));
    assert!(error_of("[limits]\nlockout_window = -5\n").contains("line 2"));
}

#[test]
fn values_are_range_checked() {
    for (text, key) in [
        ("[otp]\nlength = 3\n", "otp.length"),
        ("[otp]\nlength = 11\n", "otp.length"),
        ("[otp]\nttl = 0\n", "otp.ttl"),
        ("[otp]\nmax_attempts = 0\n", "otp.max_attempts"),
        ("[otp]\nprompt = \"{code}\"\n", "otp.prompt"),
        ("[message]\ntemplate = \"no code here\"\n", "message.template"),
        ("[message]\ntemplate = \"{code} {pin}\"\n", "message.template"),
        ("[phone]\ndefault_country_code = \"49\"\n", "phone.default_country_code"),
        ("[limits]\nmax_sends_per_hour = 0\n", "limits.max_sends_per_hour"),
        ("[state]\ndir = \"relative\"\n", "state.dir"),
        ("[[directory]]\ntype = \"file\"\npath = \"phones\"\n", "directory[0].path"),
        ("[[directory]]\ntype = \"ldap\"\nurl = \"http://x\"\nbase_dn = \"dc=x\"\n", "directory[0].url"),
        ("[[directory]]\ntype = \"ldap\"\nurl = \"ldap://x\"\nbase_dn = \"dc=x\"\nfilter = \"(uid=bob)\"\n", "directory[0].filter"),
        ("[[connector]]\ntype = \"http\"\nurl = \"ftp://x\"\nto_param = \"t\"\nbody_param = \"b\"\n", "connector[0].url"),
        ("[[connector]]\ntype = \"http\"\nurl = \"https://x\"\nbody_param = \"b\"\n", "connector[0].to_param"),
        (
            "[[connector]]\ntype = \"http\"\nurl = \"https://x\"\nto_param = \"t\"\nbody_param = \"b\"\ntimeout = 0\n",
            "connector[0].timeout",
        ),
        ("[[connector]]\ntype = \"http\"\nurl = \"https://x\"\nbody_template = \"{{to}}\"\n", "connector[0].body_template"),
        (
            "[[connector]]\ntype = \"http\"\nurl = \"https://x\"\nto_param = \"t\"\nbody_param = \"b\"\nsuccess_regex = \"(\"\n",
            "connector[0].success_regex",
        ),
        (
            "[[connector]]\ntype = \"http\"\nurl = \"https://x\"\nto_param = \"t\"\nbody_param = \"b\"\nauth = { type = \"bearer\" }\n",
            "connector[0].auth.token",
        ),
        ("[[connector]]\ntype = \"twilio\"\naccount_sid = \"AC\"\nfrom = \"+1555\"\n", "connector[0].auth_token"),
        (
            "[[connector]]\ntype = \"twilio\"\naccount_sid = \"AC\"\nfrom = \"+1555\"\nauth_token = \"a\"\nauth_token_file = \"/x\"\n",
            "connector[0].auth_token",
        ),
        ("[[connector]]\ntype = \"kannel\"\nusername = \"u\"\npassword = \"p\"\n", "connector[0].base_url"),
        ("[[connector]]\ntype = \"command\"\nargv = [\"send-sms\"]\n", "connector[0].argv"),
        (
            "[[connector]]\nname = \"a\"\ntype = \"spool\"\npath = \"/a\"\n[[connector]]\nname = \"a\"\ntype = \"spool\"\npath = \"/b\"\n",
            "connector[1].name",
        ),
    ] {
        match Config::parse(text) {
            Err(ParseError::Invalid(i)) => assert_eq!(i.key, key, "{text}: {}", i.message),
            other => panic!("{text}: expected an invalid {key}, got {other:?}"),
        }
    }
}

#[cfg(test)]
mod files {
    use super::super::*;
    use std::os::unix::fs::PermissionsExt;

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    #[test]
    fn load_names_the_file_and_refuses_insecure_modes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pam_smsotp.toml");
        std::fs::write(&path, "[otp]\nlength = 6\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        if !is_root() {
            // a file we own is not root's: always refused when not root
            let e = Config::load(&path).unwrap_err().to_string();
            assert!(e.contains("not root"), "{e}");
            eprintln!("skipped the root-owned half: needs root");
            return;
        }
        Config::load(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o620)).unwrap();
        let e = Config::load(&path).unwrap_err().to_string();
        assert!(e.contains(&path.display().to_string()) && e.contains("0620"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o602)).unwrap();
        assert!(matches!(Config::load(&path), Err(ConfigError::Insecure { .. })));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        Config::load(&path).unwrap();
        std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
        let e = Config::load(&path).unwrap_err().to_string();
        assert!(e.contains("uid 65534"), "{e}");
    }

    #[test]
    fn secret_files_are_checked_and_read() {
        if !is_root() {
            eprintln!("skipped: needs root (secret files must be root-owned)");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("token");
        std::fs::write(&secret, "s3cr3t\n").unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        let path = dir.path().join("c.toml");
        let text = format!(
            "[[connector]]\ntype = \"http\"\nurl = \"https://x\"\nto_param = \"t\"\nbody_param = \"b\"\nauth = {{ type = \"bearer\", token_file = \"{}\" }}\n",
            secret.display()
        );
        std::fs::write(&path, &text).unwrap();
        let c = Config::load(&path).unwrap();
        match &c.connectors[0] {
            ConnectorConfig::Http(h) => match &h.auth {
                HttpAuth::Bearer { token: Some(t), .. } => assert_eq!(t.expose(), "s3cr3t"),
                other => panic!("{other:?}"),
            },
            _ => panic!(),
        }
        assert!(!format!("{c:?}").contains("s3cr3t"), "Debug must redact secrets");
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o666)).unwrap();
        let e = Config::load(&path).unwrap_err().to_string();
        assert!(e.contains("token") && e.contains("0666"), "{e}");
    }
}

#[test]
fn errors_name_the_real_line_and_the_key() {
    assert_eq!(
        error_of("[[connector]]\ntype = \"spool\"\npath = \"/x\"\ncolour = 1\n"),
        "line 4: key `colour`: unknown field `colour`, expected `name` or `path`"
    );
    let e = error_of("[otp]\nlength = \"six\"\n");
    assert!(e.starts_with("line 2: key `length`: invalid type"), "{e}");
    let e = error_of("[otp\n");
    assert!(e.starts_with("line 1"), "{e}");
}

/// The shipped, annotated config is valid and shows every section.
#[test]
fn the_annotated_example_parses() {
    let text = include_str!("../../conf/pam_smsotp.toml");
    let c = Config::parse(text).unwrap();
    assert!(!c.connectors_defaulted);
    for section in ["[otp]", "[message]", "[policy]", "[phone]", "[limits]", "[state]", "[backup_codes]", "[[directory]]", "[[connector]]"]
    {
        assert!(text.contains(section), "{section} missing");
    }
    // every key the parser prints for the defaults is documented in the example
    let defaults = toml::to_string(&Config::parse("").unwrap()).unwrap();
    for line in defaults.lines() {
        if let Some((key, _)) = line.split_once(" = ") {
            assert!(text.contains(&format!("\n{key} = ")), "key {key} is not in conf/pam_smsotp.toml");
        }
    }
}

/// A minimal valid http connector with `extra` lines added.
fn http_with(extra: &str) -> String {
    format!("[[connector]]\ntype = \"http\"\nurl = \"https://sms.example.org/send\"\nto_param = \"to\"\nbody_param = \"text\"\n{extra}\n")
}

fn invalid_key(text: &str) -> Invalid {
    match Config::parse(text) {
        Err(ParseError::Invalid(i)) => i,
        other => panic!("{text}: expected a validation error, got {other:?}"),
    }
}

/// Each value that could never work is refused before any login, naming its key.
#[test]
fn the_validator_refuses_what_can_never_work() {
    let twilio = |extra: &str| {
        format!("[[connector]]\ntype = \"twilio\"\naccount_sid = \"AC1\"\nauth_token = \"t\"\nfrom = \"+15550001111\"\n{extra}\n")
    };
    for (text, key) in [
        // proxies: SOCKS makes the HTTP library panic; https:// and empty are refused too
        (http_with("proxy = \"socks5://127.0.0.1:1080\""), "connector[0].proxy"),
        (http_with("proxy = \"socks5h://127.0.0.1:1080\""), "connector[0].proxy"),
        (http_with("proxy = \"socks://127.0.0.1:1080\""), "connector[0].proxy"),
        (http_with("proxy = \"https://proxy.example.org:3128\""), "connector[0].proxy"),
        (http_with("proxy = \"\""), "connector[0].proxy"),
        (http_with("proxy = \"proxy.example.org:3128\""), "connector[0].proxy"),
        (http_with("proxy = \"http://\""), "connector[0].proxy"),
        (http_with("proxy = \"http://::1:3128\""), "connector[0].proxy"),
        (http_with("proxy = \"http://proxy.example.org:3128\\n\""), "connector[0].proxy"),
        (twilio("proxy = \"socks5://127.0.0.1:1080\""), "connector[0].proxy"),
        (twilio("proxy = \"\""), "connector[0].proxy"),
        // control characters in header values, tokens and other credentials
        (http_with("headers = { \"X-Api-Key\" = \"k\\r\\nX-Evil: 1\" }"), "connector[0].headers"),
        (http_with("headers = { \"X-Api-Key\" = \"k\\u0000\" }"), "connector[0].headers"),
        (http_with("headers = { \"X-Api-Key\" = \"k\\tk\" }"), "connector[0].headers"),
        (http_with("params = { api_key = \"k\\nk\" }"), "connector[0].params"),
        (http_with("auth = { type = \"bearer\", token = \"t\\r\\n\" }"), "connector[0].auth.token"),
        (http_with("auth = { type = \"basic\", username = \"u\", password = \"p\\u0000\" }"), "connector[0].auth.password"),
        (http_with("auth = { type = \"basic\", username = \"u\\n\", password = \"p\" }"), "connector[0].auth.username"),
        (http_with("from_param = \"f\"\nfrom = \"ACME\\n\""), "connector[0].from"),
        (twilio("").replace("auth_token = \"t\"", "auth_token = \"t\\u0000\""), "connector[0].auth_token"),
        (twilio("").replace("account_sid = \"AC1\"", "account_sid = \"AC\\r\\n1\""), "connector[0].account_sid"),
        (twilio("").replace("from = \"+15550001111\"", "from = \"+1555\\n\""), "connector[0].from"),
        (
            "[[connector]]\ntype = \"kannel\"\nbase_url = \"http://127.0.0.1:13013\"\nusername = \"u\\u0000\"\npassword = \"p\"\n".into(),
            "connector[0].username",
        ),
        // URLs the HTTP client cannot use
        ("[[connector]]\ntype = \"http\"\nurl = \"http://:8080/send\"\nto_param = \"t\"\nbody_param = \"b\"\n".into(), "connector[0].url"),
        ("[[connector]]\ntype = \"http\"\nurl = \"http:///send\"\nto_param = \"t\"\nbody_param = \"b\"\n".into(), "connector[0].url"),
        (
            "[[connector]]\ntype = \"http\"\nurl = \"http://::1:8080/send\"\nto_param = \"t\"\nbody_param = \"b\"\n".into(),
            "connector[0].url",
        ),
        (
            "[[connector]]\ntype = \"http\"\nurl = \"http://[::1:8080/send\"\nto_param = \"t\"\nbody_param = \"b\"\n".into(),
            "connector[0].url",
        ),
        ("[[connector]]\ntype = \"http\"\nurl = \"http://[nope]/send\"\nto_param = \"t\"\nbody_param = \"b\"\n".into(), "connector[0].url"),
        (
            "[[connector]]\ntype = \"http\"\nurl = \"https://bücher.example/send\"\nto_param = \"t\"\nbody_param = \"b\"\n".into(),
            "connector[0].url",
        ),
        ("[[connector]]\ntype = \"http\"\nurl = \"http://host:99999/\"\nto_param = \"t\"\nbody_param = \"b\"\n".into(), "connector[0].url"),
        ("[[connector]]\ntype = \"http\"\nurl = \"http://host:0/\"\nto_param = \"t\"\nbody_param = \"b\"\n".into(), "connector[0].url"),
        ("[[connector]]\ntype = \"http\"\nurl = \"http://h%41st/\"\nto_param = \"t\"\nbody_param = \"b\"\n".into(), "connector[0].url"),
        (
            "[[connector]]\ntype = \"http\"\nurl = \"https://gw.example/{{to}}\\nx\"\nbody_template = \"{{text}}\"\n".into(),
            "connector[0].url",
        ),
        (twilio("base_url = \"https://::1/\""), "connector[0].base_url"),
        (twilio("base_url = \"https://ääh.example\""), "connector[0].base_url"),
        (twilio("base_url = \"https:///x\""), "connector[0].base_url"),
        // NUL in prompts, templates and argv
        ("[otp]\nprompt = \"Code\\u0000: \"\n".into(), "otp.prompt"),
        ("[message]\ntemplate = \"{code}\\u0000\"\n".into(), "message.template"),
        ("[[connector]]\ntype = \"command\"\nargv = [\"/bin/send\\u0000x\"]\n".into(), "connector[0].argv"),
        ("[[connector]]\ntype = \"command\"\nargv = [\"/bin/send\", \"a\\u0000b\"]\n".into(), "connector[0].argv"),
        // a success_regex whose cost is unbounded: 10^4 states, seconds per answer
        (http_with("success_regex = \"a{100}{100}x\""), "connector[0].success_regex"),
        (http_with(&format!("success_regex = \"{}\"", "(".repeat(40) + "a" + &")".repeat(40))), "connector[0].success_regex"),
        (http_with(&format!("success_regex = \"{}\"", "a".repeat(600))), "connector[0].success_regex"),
    ] {
        let i = invalid_key(&text);
        assert_eq!(i.key, key, "{text}: {}", i.message);
        assert!(!i.message.contains('\n'), "{}", i.message);
    }
}

#[test]
fn the_validator_says_why() {
    let e = error_of(&http_with("proxy = \"socks5://127.0.0.1:1080\""));
    assert!(e.starts_with("connector[0].proxy: ") && e.contains("http://"), "{e}");
    let e = error_of("[[connector]]\ntype = \"http\"\nurl = \"http://::1:8080/send\"\nto_param = \"t\"\nbody_param = \"b\"\n");
    assert!(e.contains("[::1]") || e.contains("brackets"), "{e}");
    let e = error_of("[[connector]]\ntype = \"http\"\nurl = \"https://bücher.example/send\"\nto_param = \"t\"\nbody_param = \"b\"\n");
    assert!(e.contains("xn--bcher-kva.example"), "the ASCII form is suggested: {e}");
    let e = error_of(&http_with("success_regex = \"a{100}{100}x\""));
    assert!(e.contains("too large"), "{e}");
}

/// What does work stays accepted.
#[test]
fn usable_values_are_accepted() {
    for extra in [
        "proxy = \"http://proxy.example.org:3128\"",
        "proxy = \"http://user:pa%40ss@10.0.0.1:3128/\"",
        "proxy = \"http://[2001:db8::1]:3128\"",
        "headers = { \"X-Api-Key\" = \"käse-ü 1\" }",
        "auth = { type = \"basic\", username = \"u\", password = \"p w:ö\" }",
        "success_regex = '^0: Accepted|\"status\"\\s*:\\s*\"(queued|sent)\"'",
        "success_regex = '[a-z]{1,20}\\d{1,10}'",
    ] {
        Config::parse(&http_with(extra)).unwrap_or_else(|e| panic!("{extra}: {e}"));
    }
    for url in [
        "http://[::1]:8080/send",
        "http://127.0.0.1:13013/cgi-bin/sendsms",
        "https://user:pw@sms.example.org/send?x=1",
        "https://xn--bcher-kva.example/send",
    ] {
        let text = format!("[[connector]]\ntype = \"http\"\nurl = \"{url}\"\nto_param = \"t\"\nbody_param = \"b\"\n");
        Config::parse(&text).unwrap_or_else(|e| panic!("{url}: {e}"));
    }
    let text = "[[connector]]\ntype = \"http\"\nurl = \"https://gw.example/send?to={{to}}&msg=$ctx.msg\"\nmethod = \"GET\"\ncontent_type = \"none\"\n";
    Config::parse(text).unwrap();
    Config::parse("[otp]\nprompt = \"Code\\nsent to {phone}: \"\n").unwrap();
}

/// The pattern is compiled once, when the config is read, and kept with it.
#[test]
fn success_regex_is_compiled_at_load() {
    let c = Config::parse(&http_with("success_regex = \"^0: \"")).unwrap();
    let ConnectorConfig::Http(h) = &c.connectors[0] else { panic!() };
    let re = h.success_regex.as_ref().unwrap();
    assert_eq!(re.as_str(), "^0: ");
    assert_eq!(re.is_match("0: Accepted"), Some(true));
    assert_eq!(re.is_match("3: Queued"), Some(false));
    // the printed configuration shows the pattern as written
    assert!(toml::to_string(&c).unwrap().contains("success_regex = \"^0: \""));
}

/// A UTF-8 BOM (as Windows editors write it) before the first table is ignored,
/// through the real loader and a root-owned file; a BOM inside the text is not.
#[test]
fn a_bom_at_the_start_of_the_config_file_is_ignored() {
    use std::os::unix::fs::PermissionsExt;
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: a_bom_at_the_start_of_the_config_file_is_ignored: needs root (the config must be root-owned)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pam_smsotp.toml");
    std::fs::write(&path, "\u{feff}[otp]\nlength = 8\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let c = Config::load(&path).unwrap();
    assert_eq!(c.otp.length, 8);
    std::fs::write(&path, "[otp]\n\u{feff}length = 8\n").unwrap();
    assert!(matches!(Config::load(&path), Err(ConfigError::Syntax { .. })));
}

/// Every place a credential can be written inline, each with its own value:
/// URL user info and query, params, headers, auth, body, proxy, and each
/// preset's credential, base_url and proxy.
pub(crate) fn config_full_of_secrets() -> (String, Vec<String>) {
    let mut secrets = Vec::new();
    let mut s = |what: &str| {
        let v = format!("SECRET-{what}-{}", secrets.len());
        secrets.push(v.clone());
        v
    };
    let mut text = format!(
        "[[connector]]\nname = \"gw\"\ntype = \"http\"\nurl = \"https://{}:{}@sms.example.org/send?password={}&api_key={}\"\n\
         to_param = \"to\"\nbody_param = \"text\"\nparams = {{ api_key = \"{}\", password = \"{}\" }}\n\
         headers = {{ Authorization = \"Bearer {}\", \"X-Api-Key\" = \"{}\" }}\n\
         auth = {{ type = \"basic\", username = \"u\", password = \"{}\" }}\nproxy = \"http://{}:{}@127.0.0.1:3128\"\n\
         [[connector]]\nname = \"tpl\"\ntype = \"http\"\nurl = \"https://sms.example.org/send?token={}\"\ncontent_type = \"json\"\n\
         body_template = '{{\"key\":\"{}\",\"to\":\"{{{{to}}}}\",\"text\":\"{{{{text}}}}\"}}'\n\
         auth = {{ type = \"bearer\", token = \"{}\" }}\n",
        s("urluser"),
        s("urlpass"),
        s("querypass"),
        s("querykey"),
        s("paramkey"),
        s("parampass"),
        s("authheader"),
        s("xapikey"),
        s("basicpass"),
        s("proxyuser"),
        s("proxypass"),
        s("tplquery"),
        s("tplbody"),
        s("bearer"),
    );
    for (kind, fields) in [
        ("twilio", "account_sid = \"AC1\"\nfrom = \"+15550001111\"\nauth_token"),
        ("vonage", "api_key = \"k\"\nfrom = \"ACME\"\napi_secret"),
        ("plivo", "auth_id = \"MA1\"\nfrom = \"+15550001111\"\nauth_token"),
        ("clickatell", "api_key"),
        ("bulksms", "username = \"u\"\npassword"),
        ("messagebird", "from = \"ACME\"\naccess_key"),
        ("sinch", "service_plan_id = \"p\"\nfrom = \"+15550001111\"\napi_token"),
        ("telnyx", "from = \"+15550001111\"\napi_key"),
        ("infobip", "api_key"),
        ("kannel", "username = \"u\"\npassword"),
    ] {
        text += &format!(
            "[[connector]]\ntype = \"{kind}\"\n{fields} = \"{}\"\nbase_url = \"https://{}@{kind}.example.org/api?key={}\"\n\
             proxy = \"http://u:{}@127.0.0.1:3128\"\n",
            s(&format!("{kind}-credential")),
            s(&format!("{kind}-userinfo")),
            s(&format!("{kind}-query")),
            s(&format!("{kind}-proxy")),
        );
    }
    (text, secrets)
}

#[test]
fn debug_and_serialize_show_no_secret() {
    let (text, secrets) = config_full_of_secrets();
    let c = Config::parse(&text).unwrap();
    // every connector type that takes credentials is in the test config
    let kinds: std::collections::BTreeSet<&str> = c.connectors.iter().map(|c| c.kind()).collect();
    for key in keys::all().unwrap() {
        if let Some(kind) = key.strip_prefix("connector.").and_then(|k| k.split('.').next())
            && !["type", "spool", "command"].contains(&kind)
        {
            assert!(kinds.contains(kind), "the secrets test misses connector type {kind}");
        }
    }
    let printed = [format!("{c:?}"), format!("{c:#?}"), toml::to_string(&c).unwrap(), serde_json::to_string(&c).unwrap()];
    for out in &printed {
        for secret in &secrets {
            assert!(!out.contains(secret.as_str()), "{secret} shown in:\n{out}");
        }
    }
    // what is not secret is still shown
    let toml_out = &printed[2];
    for shown in ["sms.example.org/send?password=[redacted]&api_key=[redacted]", "[redacted]@127.0.0.1:3128", "X-Api-Key = \"[redacted]\""]
    {
        assert!(toml_out.contains(shown), "{shown} missing from\n{toml_out}");
    }
    assert!(printed[0].contains("sms.example.org"), "{}", printed[0]);
}

#[test]
fn deeply_nested_values_are_an_error_not_a_stack_overflow() {
    for open in ["[", "{a=", "[{a=", "{a=["] {
        let text = format!("[otp]\nlength = {}\n", open.repeat(100_000));
        assert!(error_of(&text).contains("nested deeper than 32"), "{open}");
    }
    // what a configuration really nests is parsed
    assert!(Config::parse("[otp]\nlength = 6\n[[directory]]\ntype = \"file\"\npath = \"/etc/p\"\n").is_ok());
}
