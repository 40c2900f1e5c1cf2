//! The one log line per report: `event=delivery result=... reason=... connector=...
//! seq=... user=... to=...`, in the encoding of the module's and `smsotp`'s
//! audit lines (src/audit.rs): values with spaces, quotes or '=' quoted,
//! control characters dropped.

pub struct Event<'a> {
    pub result: &'a str,
    pub reason: &'a str,
    pub connector: &'a str,
    pub seq: &'a str,
    pub user: &'a str,
    /// The number, masked.
    pub to: &'a str,
}

pub fn format(e: &Event<'_>) -> String {
    pam_smsotp::audit::encode(&[
        ("event", "delivery"),
        ("result", e.result),
        ("reason", e.reason),
        ("connector", e.connector),
        ("seq", e.seq),
        ("user", e.user),
        ("to", e.to),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_and_cleaned() {
        let line = format(&Event {
            result: "failed",
            reason: "undeliv_err_001",
            connector: "my gw",
            seq: "AB",
            user: "eve\nevent=delivery result=delivered",
            to: "+*********67",
        });
        assert_eq!(
            line,
            "event=delivery result=failed reason=undeliv_err_001 connector=\"my gw\" seq=AB user=\"eveevent=delivery result=delivered\" to=+*********67"
        );
        assert!(
            format(&Event { result: "refused", reason: "forged", connector: "", seq: "", user: "a\"b", to: "" })
                .ends_with("connector=\"\" seq=\"\" user=\"a\\\"b\" to=\"\"")
        );
    }
}
