//! Module arguments from the pam.d line: `config=PATH` and `debug`.

use std::path::PathBuf;

use crate::config::DEFAULT_CONFIG_PATH;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleArgs {
    pub config: PathBuf,
    pub debug: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgError {
    #[error("unknown module argument {0:?} (known: config=PATH, debug)")]
    Unknown(String),
    #[error("config= needs an absolute path")]
    RelativeConfig,
    #[error("a module argument is not UTF-8")]
    NotUtf8,
}

pub fn parse<'a>(args: impl IntoIterator<Item = &'a [u8]>) -> Result<ModuleArgs, ArgError> {
    let mut parsed = ModuleArgs { config: PathBuf::from(DEFAULT_CONFIG_PATH), debug: false };
    for raw in args {
        let arg = std::str::from_utf8(raw).map_err(|_| ArgError::NotUtf8)?;
        if arg == "debug" {
            parsed.debug = true;
        } else if let Some(path) = arg.strip_prefix("config=") {
            if !path.starts_with('/') {
                return Err(ArgError::RelativeConfig);
            }
            parsed.config = PathBuf::from(path);
        } else {
            return Err(ArgError::Unknown(arg.chars().take(64).collect()));
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_arguments() {
        let a = parse([&b"config=/etc/x.toml"[..], b"debug"]).unwrap();
        assert_eq!(a, ModuleArgs { config: "/etc/x.toml".into(), debug: true });
        assert_eq!(parse([]).unwrap().config, PathBuf::from(DEFAULT_CONFIG_PATH));
    }

    #[test]
    fn unknown_and_bad_arguments_are_errors() {
        assert_eq!(parse([&b"nullok"[..]]), Err(ArgError::Unknown("nullok".into())));
        assert_eq!(parse([&b"config=rel.toml"[..]]), Err(ArgError::RelativeConfig));
        assert_eq!(parse([&b"\xff"[..]]), Err(ArgError::NotUtf8));
    }
}
