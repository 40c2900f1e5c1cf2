//! `smsotp send-test`: one SMS through the connectors, as a login would send
//! it: the configured `[message] template` with a test code, unless `--text`.

use std::time::Duration;

use pam_smsotp::auth::{Clock, Sms};
use pam_smsotp::config::Config;
use pam_smsotp::connector::Chain;
use pam_smsotp::log::Log;
use pam_smsotp::message::{self, MessageValues};
use pam_smsotp::otp::Code;
use pam_smsotp::phone::Phone;
use pam_smsotp::system::{self, SystemClock};
use zeroize::Zeroizing;

use crate::lookup::find_phone;
use crate::{Done, Failed};

pub struct SendTest {
    pub to: Option<String>,
    pub user: Option<String>,
    pub connector: Option<String>,
    pub text: Option<String>,
}

pub fn send_test(config: &Config, args: SendTest, log: &dyn Log) -> Done {
    let (phone, user) = match (args.to, args.user) {
        (Some(raw), _) => {
            let phone = Phone::normalise(&raw, &config.phone.default_country_code).map_err(|e| Failed::Error(format!("--to: {e}")))?;
            (phone, "username".to_string())
        }
        (None, Some(user)) => match find_phone(config, &user, log) {
            Some((p, source, _)) => {
                println!("{user}: {} from {source}", p.masked());
                (p, user)
            }
            None => {
                println!("{user}: no number found");
                return Err(Failed::Said);
            }
        },
        (None, None) => return Err(Failed::Error("--to or --user is needed".into())),
    };
    let otp = &config.otp;
    let clock = SystemClock;
    let code = Code::generate(otp.length, otp.charset, clock.monotonic(), Duration::from_secs(otp.ttl))
        .map_err(|e| Failed::Error(e.to_string()))?;
    let host = system::hostname();
    let text = Zeroizing::new(match args.text {
        Some(text) => text,
        None => {
            let values =
                MessageValues { code: code.expose(), user: &user, host: &host, service: "send-test", ttl_seconds: otp.ttl, seq: &code.seq };
            message::render_message(&config.message.template, &values)
        }
    });
    let cost = message::sms_cost(&text);
    println!("text: {} characters, {} encoding, {} SMS part(s)", text.chars().count(), cost.encoding, cost.parts);
    let expires = clock.now().saturating_add(Duration::from_secs(otp.ttl)).as_secs();
    let sms = Sms { to: &phone, text: &text, code: code.expose(), seq: &code.seq, expires, user: &user };
    let chain = Chain::from_config(config);
    let only = args.connector;
    let selected: Vec<_> = chain.connectors.iter().filter(|n| only.as_ref().is_none_or(|o| &n.name == o)).collect();
    if selected.is_empty() {
        return Err(Failed::Error(format!("no connector named {:?}", only.unwrap_or_default())));
    }
    let budget = Duration::from_secs(config.limits.login_budget);
    for named in selected {
        match Chain::try_one(named, &sms, budget) {
            Ok(d) => {
                let id = d.message_id.map(|id| format!(", message id {id}")).unwrap_or_default();
                println!("{}: sent to {} ({}{id})", named.name, phone.masked(), d.answer);
                return Ok(());
            }
            Err(e) => println!("{}: failed: {e}", named.name),
        }
    }
    Err(Failed::Said)
}
