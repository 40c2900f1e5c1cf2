//! `smsotp report`: a summary of the state store to paste into a ticket:
//! users locked now, users at their send cap, SMS per connector in the last
//! hour and day, backup codes running low (and delivery failures, once
//! delivery reports are recorded).

use std::collections::BTreeMap;

use pam_smsotp::auth::Clock;
use pam_smsotp::config::{Config, StateBackend};
use pam_smsotp::dlr::record::DeliveryState;
use pam_smsotp::state::delivery::report_store;
use pam_smsotp::state::report::{Report, file_report};
use pam_smsotp::state::{FileStore, RedisStore};
use pam_smsotp::system::{SystemClock, hostname};

use crate::Done;

/// Failed delivery reports per connector in the last 24 hours; None while
/// reports are off.
fn delivery_failures(config: &Config, now: u64) -> Result<Option<BTreeMap<String, u64>>, crate::Failed> {
    if !config.delivery.enabled() {
        return Ok(None);
    }
    let listed = report_store(config).list(now.saturating_sub(DAY)).map_err(|e| crate::Failed::Error(e.to_string()))?;
    let mut failures = BTreeMap::new();
    for (sent, report) in listed {
        if report.is_some_and(|r| r.state == DeliveryState::Failed) {
            *failures.entry(sent.connector).or_insert(0) += 1;
        }
    }
    Ok(Some(failures))
}

const DAY: u64 = 86_400;

/// Backup codes at or below this are "running low".
const LOW_BACKUP_CODES: u64 = 2;

pub fn report(config: &Config) -> Done {
    let now = SystemClock.now().as_secs();
    let (backend, report) = match config.state.backend {
        StateBackend::File => {
            let store = FileStore::open(config)?;
            (format!("file ({})", config.state.dir.display()), file_report(&store, &config.state.dir, now, config.limits.lockout_window)?)
        }
        StateBackend::Redis => {
            // SCAN needs more than the module's ACL user may do
            let mut r = RedisStore::admin(config)?;
            let report = r.report()?;
            (format!("redis ({})", r.server_name().unwrap_or_default()), report)
        }
    };
    let mut report = report;
    report.delivery_failures = delivery_failures(config, now)?;
    print!("{}", render(config, &backend, now, &report));
    Ok(())
}

fn render(config: &Config, backend: &str, now: u64, report: &Report) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!("pam_smsotp report: {} at {} (Unix {now})", hostname(), utc(now)));
    line(format!("state: {backend}, {} users with state", report.users.len()));

    let locked: Vec<_> = report.users.iter().filter(|u| u.locked_for.is_some()).collect();
    line(format!("\nusers locked now: {}", locked.len()));
    for u in &locked {
        line(format!("  {}: for another {} s", u.user, u.locked_for.unwrap_or(0)));
    }

    let cap = u64::from(config.limits.max_sends_per_hour);
    let capped: Vec<_> = report.users.iter().filter(|u| u.sends_in_last_hour >= cap).collect();
    let failing: Vec<_> = report.users.iter().filter(|u| u.locked_for.is_none() && u.failures_in_window > 0).collect();
    line(format!("\nusers with failures in the last {} s, not locked: {}", config.limits.lockout_window, failing.len()));
    for u in &failing {
        line(format!("  {}: {} of {}", u.user, u.failures_in_window, config.limits.lockout_failures));
    }

    line(format!("\nusers at their send cap ({cap} SMS per hour): {}", capped.len()));
    for u in &capped {
        line(format!("  {}: {} SMS in the last hour", u.user, u.sends_in_last_hour));
    }

    line("\nSMS per connector (last hour / last 24 hours):".into());
    match &report.sent {
        None => line("  not counted by this backend".into()),
        Some(sent) if sent.is_empty() => line("  none".into()),
        Some(sent) => {
            for (name, c) in sent {
                line(format!("  {name}: {} / {}", c.last_hour, c.last_day));
            }
        }
    }

    line("\ndelivery failures (last 24 hours):".into());
    match &report.delivery_failures {
        None => line("  not recorded (delivery reports are off: [delivery] callback_url)".into()),
        Some(failures) if failures.is_empty() => line("  none".into()),
        Some(failures) => {
            for (name, n) in failures {
                line(format!("  {name}: {n}"));
            }
        }
    }

    // users with no codes at all never had any, as far as the files can tell
    let low: Vec<_> = report
        .users
        .iter()
        .filter(|u| u.backup_codes <= LOW_BACKUP_CODES && (u.backup_codes > 0 || u.codes_issued == Some(true)))
        .collect();
    line(format!("\nbackup codes running low ({LOW_BACKUP_CODES} or fewer left): {}", low.len()));
    for u in &low {
        line(format!("  {}: {} left", u.user, u.backup_codes));
    }
    if !report.unreadable.is_empty() {
        line(format!("\nunreadable state: {}", report.unreadable.len()));
        for (what, why) in &report.unreadable {
            line(format!("  {what}: {}", pam_smsotp::log::printable(why)));
        }
    }
    out
}

/// `YYYY-MM-DD HH:MM:SS UTC` from Unix seconds (civil-from-days, Howard Hinnant).
fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
    }
}
