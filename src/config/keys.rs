//! Every key the configuration parser accepts, as dotted paths, asked of the
//! parser itself.
//!
//! The key names are not written down here: for each table, a document with one
//! unknown key is handed to the real deserializer, and serde's answer
//! ("unknown field `x`, expected one of `a`, `b`, ...", "unknown variant `x`,
//! expected one of ...") names every field or `type` the table accepts. A field
//! added to any struct therefore shows up here by itself. Only the layout is
//! written down ([`TAGGED_ARRAYS`], [`NESTED`]): which keys hold a table of
//! their own. A layout that no longer matches the parser is an error, not a
//! silently shorter list.
//!
//! Used by the documentation tests (tests/packaging.rs): every key listed here
//! must be described in pam_smsotp.toml(5) and in conf/pam_smsotp.toml, and
//! every key documented there must be listed here.
//!
//! Paths: `otp.length`, `directory.type`, `directory.ldap.url`,
//! `connector.twilio.auth_token_file`, `connector.http.auth.type`,
//! `connector.http.auth.basic.username`, `connector.http.success_json.pointer`.

use super::Config;

/// A key no table accepts, used to make the parser list what it does accept.
const PROBE: &str = "zz_not_a_key";

/// Top-level keys holding an array of tables chosen by their `type`.
pub const TAGGED_ARRAYS: &[&str] = &["directory", "connector"];

/// A key inside a typed array entry that holds a table of its own:
/// (array, entry type, key, tagged by `type`).
pub const NESTED: &[(&str, &str, &str, bool)] = &[("connector", "http", "auth", true), ("connector", "http", "success_json", false)];

/// Tables inside a `[section]` with fixed keys of their own: (section, key).
pub const SUBTABLES: &[(&str, &str)] = &[("state", "redis")];

/// Keys whose value is a table of free-form names (no fixed keys inside).
pub const FREE_FORM: &[&str] = &["connector.http.params", "connector.http.headers"];

/// Every accepted key as a dotted path, sorted. `Err` names the probe whose
/// answer was not a list of keys (the layout above needs updating).
pub fn all() -> Result<Vec<String>, String> {
    let mut keys = Vec::new();
    let top = expected(&format!("{PROBE} = 1\n"))?;
    for section in &top {
        if TAGGED_ARRAYS.contains(&section.as_str()) {
            keys.push(format!("{section}.type"));
            for kind in expected(&format!("[[{section}]]\ntype = \"{PROBE}\"\n"))? {
                let entry = format!("[[{section}]]\ntype = \"{kind}\"\n");
                for key in expected(&format!("{entry}{PROBE} = 1\n"))? {
                    keys.push(format!("{section}.{kind}.{key}"));
                }
                for &(array, of_kind, key, tagged) in NESTED {
                    if array != section || of_kind != kind {
                        continue;
                    }
                    let prefix = format!("{section}.{kind}.{key}");
                    if !keys.contains(&prefix) {
                        return Err(format!("{prefix}: no such key any more; update keys::NESTED"));
                    }
                    if tagged {
                        keys.push(format!("{prefix}.type"));
                        for sub in expected(&format!("{entry}{key} = {{ type = \"{PROBE}\" }}\n"))? {
                            // a unit variant (`none`) has no fields; serde lets it
                            // ignore other keys, so its probe is not answered with a list
                            let probe = format!("{entry}{key} = {{ type = \"{sub}\", {PROBE} = 1 }}\n");
                            let fields = expected(&probe).or_else(|e| if names_probe(&probe) { Err(e) } else { Ok(Vec::new()) })?;
                            for field in fields {
                                keys.push(format!("{prefix}.{sub}.{field}"));
                            }
                        }
                    } else {
                        for field in expected(&format!("{entry}{key} = {{ {PROBE} = 1 }}\n"))? {
                            keys.push(format!("{prefix}.{field}"));
                        }
                    }
                }
            }
        } else {
            // a table of strings ([messages]) checks the value's type first: probe with a string
            let probe =
                expected(&format!("[{section}]\n{PROBE} = 1\n")).or_else(|_| expected(&format!("[{section}]\n{PROBE} = \"x\"\n")))?;
            for key in probe {
                if SUBTABLES.contains(&(section.as_str(), key.as_str())) {
                    for field in expected(&format!("[{section}.{key}]\n{PROBE} = 1\n"))? {
                        keys.push(format!("{section}.{key}.{field}"));
                    }
                } else {
                    keys.push(format!("{section}.{key}"));
                }
            }
        }
    }
    keys.sort();
    keys.dedup();
    Ok(keys)
}

/// Whether the parser's answer to `text` is about the probe key at all.
fn names_probe(text: &str) -> bool {
    match toml::from_str::<Config>(text) {
        Ok(_) => false,
        Err(e) => e.message().contains(&format!("`{PROBE}`")),
    }
}

/// The names the parser says it expected instead of the probe: fields of a
/// table, or `type`s of a tagged one. A table that takes no fields answers
/// with an empty list.
fn expected(text: &str) -> Result<Vec<String>, String> {
    let err = match toml::from_str::<Config>(text) {
        Ok(_) => return Err(format!("the parser accepted the probe {text:?}; update the layout in config/keys.rs")),
        Err(e) => e,
    };
    let message = err.message();
    let unknown = format!("`{PROBE}`");
    let Some(at) = message.find(&unknown) else {
        return Err(format!("probe {text:?}: unexpected answer {message:?}; update the layout in config/keys.rs"));
    };
    let rest = &message[at + unknown.len()..];
    let rest = rest.lines().next().unwrap_or("");
    if rest.contains("there are no fields") || rest.contains("there are no variants") {
        return Ok(Vec::new());
    }
    let Some(list) = rest.split_once("expected ").map(|(_, l)| l) else {
        return Err(format!("probe {text:?}: no list in {message:?}"));
    };
    // "`a`", "`a` or `b`", "one of `a`, `b`, `c`"
    let names: Vec<String> = list.split('`').skip(1).step_by(2).map(str::to_string).collect();
    if names.is_empty() {
        return Err(format!("probe {text:?}: no names in {message:?}"));
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_table_and_kind() {
        let keys = all().unwrap();
        for k in [
            "otp.length",
            "otp.echo",
            "message.template",
            "policy.trusted_networks",
            "phone.default_country_code",
            "limits.login_budget",
            "state.dir",
            "state.backend",
            "state.redis.url",
            "state.redis.wait_replicas",
            "backup_codes.enabled",
            "directory.type",
            "directory.file.path",
            "directory.ldap.bind_password_file",
            "connector.type",
            "connector.spool.path",
            "connector.command.argv",
            "connector.http.auth",
            "connector.http.auth.type",
            "connector.http.auth.basic.password_file",
            "connector.http.auth.bearer.token",
            "connector.http.success_json.equals",
            "connector.twilio.auth_token_file",
            "connector.kannel.smsc",
        ] {
            assert!(keys.contains(&k.to_string()), "{k} missing from {keys:?}");
        }
        // skipped fields are not keys
        assert!(!keys.iter().any(|k| k.ends_with("connectors_defaulted") || k.ends_with(".bind_password")));
        assert!(!keys.iter().any(|k| k == "state.redis" || k == "state.redis.password" || k == "state.redis.sentinel_password"));
        let mut sorted = keys.clone();
        sorted.dedup();
        assert_eq!(sorted, keys);
    }

    /// Each listed key is accepted where the path says: a document that uses it
    /// never gets "unknown field" for it.
    #[test]
    fn every_listed_key_is_accepted_in_its_table() {
        for key in all().unwrap() {
            let parts: Vec<&str> = key.split('.').collect();
            let text = match parts[..] {
                [section, table, field] if SUBTABLES.contains(&(section, table)) => format!("[{section}.{table}]\n{field} = 1\n"),
                [section, field] if TAGGED_ARRAYS.contains(&section) => {
                    assert_eq!(field, "type");
                    continue;
                }
                [section, field] => format!("[{section}]\n{field} = 1\n"),
                [section, kind, field] => format!("[[{section}]]\ntype = \"{kind}\"\n{field} = 1\n"),
                [section, kind, table, "type"] => format!("[[{section}]]\ntype = \"{kind}\"\n{table} = {{ type = 1 }}\n"),
                [section, kind, table, field] => format!("[[{section}]]\ntype = \"{kind}\"\n{table} = {{ {field} = 1 }}\n"),
                [section, kind, table, sub, field] => {
                    format!("[[{section}]]\ntype = \"{kind}\"\n{table} = {{ type = \"{sub}\", {field} = 1 }}\n")
                }
                _ => panic!("unexpected path {key}"),
            };
            let leaf = parts.last().unwrap();
            if let Err(e) = toml::from_str::<Config>(&text) {
                assert!(!e.message().contains(&format!("unknown field `{leaf}`")), "{key}: {}", e.message());
            }
        }
    }

    #[test]
    fn free_form_tables_are_keys() {
        let keys = all().unwrap();
        for k in FREE_FORM {
            assert!(keys.contains(&k.to_string()), "{k}");
        }
    }
}
