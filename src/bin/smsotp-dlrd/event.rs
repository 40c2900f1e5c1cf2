//! The one log line per report: `event=delivery result=... reason=... connector=...
//! seq=... user=... to=...`. Values with spaces, quotes or '=' are quoted, control
//! characters dropped. (Issue 17 builds a shared audit-event encoder; this is
//! the daemon's until they are unified.)

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
    let fields = [
        ("event", "delivery"),
        ("result", e.result),
        ("reason", e.reason),
        ("connector", e.connector),
        ("seq", e.seq),
        ("user", e.user),
        ("to", e.to),
    ];
    fields.iter().map(|(k, v)| format!("{k}={}", value(v))).collect::<Vec<_>>().join(" ")
}

fn value(v: &str) -> String {
    let clean: String = v.chars().filter(|c| !c.is_control()).collect();
    if clean.is_empty() {
        return "-".into();
    }
    if clean.chars().any(|c| c.is_whitespace() || c == '"' || c == '=' || c == '\\') {
        let escaped = clean.replace('\\', "\\\\").replace('"', "\\\"");
        return format!("\"{escaped}\"");
    }
    clean
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
                .ends_with("connector=- seq=- user=\"a\\\"b\" to=-")
        );
    }
}
