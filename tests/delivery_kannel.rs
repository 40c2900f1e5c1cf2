//! Delivery reports through a real Kannel (bearerbox, smsbox, fakesmsc, and its
//! generic `http` SMSC pointed at an upstream of the test's that rejects every
//! message) reaching a real smsotp-dlrd, and a real login through libpam that
//! uses them: the first code goes out through the rejecting route, Kannel
//! reports it failed, the user asks for a new code and is told the last SMS
//! could not be delivered, the new code goes through the next connector, is
//! reported delivered, and logs the user in. `smsotp status` shows both.

mod common;

use std::time::{Duration, Instant};

use common::dlrd::{Dlrd, delivery_section};
use common::gateway::{Gateway, Mode};
use common::kannel::{self, Kannel};
use common::*;
use pam_smsotp::dlr::record::{DeliveryState, Report, list};

fn kannel_connector(name: &str, k: &Kannel, smsc: &str) -> String {
    format!(
        "[[connector]]\nname = \"{name}\"\ntype = \"kannel\"\nbase_url = \"http://127.0.0.1:{}\"\nusername = \"{}\"\npassword = \"{}\"\nfrom = \"12345\"\ntimeout = 5\n{smsc}\n",
        k.sendsms_port,
        kannel::USERNAME,
        kannel::PASSWORD
    )
}

fn reports(dir: &std::path::Path) -> Vec<Report> {
    list(dir).unwrap_or_default().into_iter().filter_map(|(_, r)| r).collect()
}

fn wait_for_report(dir: &std::path::Path, what: impl Fn(&Report) -> bool, debug: &dyn Fn() -> String) -> Report {
    let start = Instant::now();
    loop {
        if let Some(r) = reports(dir).into_iter().find(|r| what(r)) {
            return r;
        }
        if start.elapsed() > Duration::from_secs(15) {
            let files: Vec<_> = std::fs::read_dir(dir).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
            panic!("no such report; have {:?}; files {files:?}\n{}", reports(dir), debug());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_rejected_sms_is_reported_failed_and_the_resend_goes_through_the_next_connector() {
    require!(Root, PamWrapper, Kannel);
    let upstream = Gateway::start(Mode::text(200, "failure: unknown subscriber"));
    let k = Kannel::start_with_upstream(&upstream.url("/send"));
    let port = free_port();
    let probe = Setup::with_connectors("", false);
    let section = delivery_section(probe.dir.path(), port, "");
    let extra = format!("{section}{}{}", kannel_connector("kannel-up", &k, "smsc = \"UP\""), kannel_connector("kannel", &k, ""));
    let s = Setup::with_connectors(&extra, false);
    // the key and reports directory live in `probe`'s directory; `s` names them
    let dlrd = Dlrd::start(&s.config, port);
    let debug = || format!("smsbox: {}\nbearerbox: {}\ndlrd: {}", k.log("smsbox.log"), k.log("bearerbox.log"), dlrd.output());
    let reports_dir = probe.dir.path().join("reports");

    let asked = std::cell::Cell::new(false);
    let out = s.login_as(USER, Stack::Probe, &[Reply::TextAfterTexts(String::new()), Reply::Code], &[], |_| {
        if !asked.replace(true) {
            // before asking for a new code, the first one's report has come back failed
            wait_for_report(&reports_dir, |r| r.connector == "kannel-up" && r.state == DeliveryState::Failed, &debug);
            return Vec::new();
        }
        k.wait_for_messages(1)
    });
    assert_eq!(out.rc, PAM_SUCCESS, "{out:?}\nsmsbox: {}\nupstream saw {}", k.log("smsbox.log"), upstream.requests().len());
    assert!(out.shown().iter().any(|m| m.contains("The last SMS could not be delivered")), "{:?}", out.messages);
    assert!(out.log.contains("reported undelivered (rejected_failure_unknown_subscriber)"), "{}", out.log);
    assert_eq!(upstream.requests().len(), 1, "the resend did not go the failing way again");
    assert_eq!(k.raw().len(), 1, "{:?}", k.raw());

    let failed = wait_for_report(&reports_dir, |r| r.connector == "kannel-up", &debug);
    assert_eq!(
        (failed.state, failed.reason.as_str(), failed.user.as_str()),
        (DeliveryState::Failed, "rejected_failure_unknown_subscriber", USER)
    );
    let delivered = wait_for_report(&reports_dir, |r| r.connector == "kannel" && r.state == DeliveryState::Delivered, &debug);
    assert_eq!(delivered.user, USER);

    let status = smsotp_ok(&s, &["status", USER]);
    assert!(status.contains(&format!("[{}]", delivered.seq)) && status.contains("via kannel to +*********67: delivered"), "{status}");
    assert!(
        status.contains(&format!("[{}]", failed.seq))
            && status.contains("via kannel-up to +*********67: failed (rejected_failure_unknown_subscriber)"),
        "{status}"
    );
    let listed = smsotp_ok(&s, &["deliveries", "--failed"]);
    assert!(listed.contains("kannel-up") && !listed.contains("via kannel to"), "{listed}");
    // the ticket summary counts the failure against the connector that failed
    let report = smsotp_ok(&s, &["report"]);
    let failures = report.split("delivery failures (last 24 hours):\n").nth(1).unwrap_or_else(|| panic!("{report}"));
    assert!(failures.starts_with("  kannel-up: 1\n"), "{report}");
    assert!(!failures.split("\n\n").next().unwrap_or("").contains("  kannel:"), "{report}");
}
