//! Delivery reports for the administrator: a user's last codes with what their
//! reports said (`smsotp status USER`), and recent reports across users
//! (`smsotp deliveries [--since S] [--failed]`).

use pam_smsotp::config::Config;
use pam_smsotp::dlr::record::{DeliveryState, Report, Sent};
use pam_smsotp::state::delivery::report_store;

use crate::{Done, Failed};

/// How many of a user's codes `status` shows.
const LAST_CODES: usize = 5;

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn line(sent: &Sent, report: Option<&Report>, now: u64) -> String {
    let (state, reason) = match report {
        Some(r) => (r.state.word(), r.reason.as_str()),
        None => ("no report", ""),
    };
    let ago = now.saturating_sub(sent.sent);
    let reason = if reason.is_empty() { String::new() } else { format!(" ({reason})") };
    format!("  [{}] {} s ago via {} to {}: {state}{reason}", sent.seq, ago, sent.connector, sent.to)
}

/// The "last codes" part of `smsotp status USER`; nothing while reports are off.
pub fn last_codes(config: &Config, user: &str) -> Done {
    if !config.delivery.enabled() {
        return Ok(());
    }
    let now = now();
    let all = report_store(config).list(now.saturating_sub(config.delivery.token_ttl)).map_err(|e| Failed::Error(e.to_string()))?;
    let mine: Vec<_> = all.iter().filter(|(s, _)| s.user == user).take(LAST_CODES).collect();
    if mine.is_empty() {
        println!("last codes: none with a delivery report asked");
        return Ok(());
    }
    println!("last codes (newest first):");
    for (sent, report) in mine {
        println!("{}", line(sent, report.as_ref(), now));
    }
    Ok(())
}

/// `smsotp deliveries`: reports of the last `since` seconds, all or failed only,
/// then which connectors are demoted.
pub fn deliveries(config: &Config, since: u64, failed_only: bool) -> Done {
    if !config.delivery.enabled() {
        return Err(Failed::Error("delivery reports are off ([delivery] callback_url is empty)".into()));
    }
    let now = now();
    let mut store = report_store(config);
    let all = store.list(now.saturating_sub(since)).map_err(|e| Failed::Error(e.to_string()))?;
    let mut shown = 0;
    for (sent, report) in &all {
        if failed_only && report.as_ref().map(|r| r.state) != Some(DeliveryState::Failed) {
            continue;
        }
        println!("{}{}", sent.user, line(sent, report.as_ref(), now));
        shown += 1;
    }
    if shown == 0 {
        println!("no {}reports in the last {since} s", if failed_only { "failed " } else { "" });
    }
    for (i, c) in config.connectors.iter().enumerate() {
        let name = c.display_name(i);
        if let Ok(h) = store.health(&name)
            && h.is_demoted(now)
        {
            println!("connector {name}: demoted (tried last) for another {} s", h.demoted_until - now);
        }
    }
    Ok(())
}
