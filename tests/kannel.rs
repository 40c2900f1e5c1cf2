//! End to end through a real Kannel (bearerbox, smsbox, fakesmsc on loopback):
//! a login through real libpam with the `kannel` preset, the code read from what
//! the fake SMSC received.

mod common;

use common::kannel::{self, Kannel};
use common::*;

fn kannel_connector(k: &Kannel, password: &str) -> String {
    format!(
        "[[connector]]\nname = \"kannel\"\ntype = \"kannel\"\nbase_url = \"http://127.0.0.1:{}\"\nusername = \"{}\"\npassword = \"{password}\"\nfrom = \"12345\"\ntimeout = 5\n",
        k.sendsms_port,
        kannel::USERNAME
    )
}

#[test]
fn a_login_through_kannel() {
    require!(Root, PamWrapper, Kannel);
    let k = Kannel::start();
    let s = Setup::with_connectors(&kannel_connector(&k, kannel::PASSWORD), false);
    let out = s.login_as(USER, Stack::PasswordThenSms, &[Reply::Password, Reply::Code], &[], |_| k.wait_for_messages(1));
    assert_eq!(out.rc, PAM_SUCCESS, "{out:?}\nfakesmsc saw: {:?}\nsmsbox: {}", k.raw(), k.log("smsbox.log"));
    let raw = k.raw();
    assert_eq!(raw.len(), 1, "{raw:?}");
    assert!(raw[0].contains(PHONE), "the number as Kannel passed it on: {raw:?}");
    assert!(k.texts()[0].starts_with("Code "), "{:?}", k.texts());
    assert!(out.log.contains("via kannel"), "{}", out.log);

    // a wrong code is still refused
    let out = s.login_as(USER, Stack::Probe, &[text("000000"), text("000001"), text("000002")], &[], |_| k.texts());
    assert_eq!(out.rc, PAM_MAXTRIES, "{out:?}");
}

#[test]
fn a_wrong_sendsms_password_follows_on_send_failure() {
    require!(Root, PamWrapper, Kannel);
    let k = Kannel::start();
    let s = Setup::with_connectors(&kannel_connector(&k, "not-the-password"), false);
    let out = s.login(Stack::Probe, &[Reply::Code]);
    assert_eq!(out.rc, PAM_AUTHINFO_UNAVAIL, "{out:?}");
    assert!(out.log.contains("connector kannel: HTTP status 403: Authorization failed for sendsms"), "{}", out.log);
    assert!(!out.log.contains("not-the-password"), "{}", out.log);
    let s = Setup::with_connectors(&format!("[policy]\non_send_failure = \"deny\"\n{}", kannel_connector(&k, "not-the-password")), false);
    let out = s.login(Stack::Probe, &[Reply::Code]);
    assert_eq!(out.rc, PAM_AUTH_ERR, "{out:?}");
    assert!(k.raw().is_empty(), "nothing may reach the SMSC: {:?}", k.raw());
}

#[test]
fn non_gsm_text_arrives_intact() {
    require!(Root, PamWrapper, Kannel);
    let k = Kannel::start();
    let s = Setup::with_connectors(&kannel_connector(&k, kannel::PASSWORD), false);
    let text = s.config_text().replace("Code {code} for {user}@{host}", "Код {code} – вход для {user} ✓");
    s.rewrite_config(&text);
    let out = s.login_as(USER, Stack::Probe, &[Reply::Code], &[], |_| k.wait_for_messages(1));
    assert_eq!(out.rc, PAM_SUCCESS, "{out:?}\nfakesmsc saw: {:?}", k.raw());
    let received = k.texts();
    let code = code_in(&received[0]);
    assert_eq!(received[0], format!("Код {code} – вход для alice ✓"), "raw: {:?}", k.raw());
}
