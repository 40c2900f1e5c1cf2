//! `success_regex`: compiled once, when the config is read, with its cost bounded.
//!
//! regex-lite matches in O(m * n) time, m the size of the compiled pattern
//! after counted repetitions are expanded, n the answer (at most 64 KiB). Its
//! default size limit (10 MiB) lets `a{100}{100}x` through, which takes seconds
//! per answer; these limits keep the worst accepted pattern near 0.1 s (release
//! build) while every pattern a gateway answer needs compiles. regex-lite rather
//! than `regex`: it has the same size and nesting limits at a fraction of the
//! module's size.

use serde::{Deserialize, Serialize};

const MAX_PATTERN_BYTES: usize = 512;
const SIZE_LIMIT: usize = 16 * 1024;
const NEST_LIMIT: u32 = 16;

#[derive(Clone)]
pub struct SuccessRegex {
    source: String,
    /// The compile error, one line, if the pattern is refused (the validator
    /// reports it under the key).
    compiled: Result<regex_lite::Regex, String>,
}

impl SuccessRegex {
    pub fn new(source: String) -> Self {
        let compiled = compile(&source);
        SuccessRegex { source, compiled }
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Why the pattern was refused, if it was.
    pub fn problem(&self) -> Option<&str> {
        self.compiled.as_ref().err().map(String::as_str)
    }

    /// None if the pattern was refused (a config that passed validation has none).
    pub fn is_match(&self, text: &str) -> Option<bool> {
        self.compiled.as_ref().ok().map(|re| re.is_match(text))
    }
}

fn compile(source: &str) -> Result<regex_lite::Regex, String> {
    if source.len() > MAX_PATTERN_BYTES {
        return Err(format!("longer than {MAX_PATTERN_BYTES} bytes"));
    }
    regex_lite::RegexBuilder::new(source).size_limit(SIZE_LIMIT).nest_limit(NEST_LIMIT).build().map_err(|e| {
        let said = e.to_string();
        let last = said.lines().last().unwrap_or("invalid regex").trim();
        if last.contains("size limit") {
            format!("too large once repetitions are expanded (limit {SIZE_LIMIT} bytes compiled): {last}")
        } else {
            last.to_string()
        }
    })
}

impl std::fmt::Debug for SuccessRegex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.source, f)
    }
}

impl Serialize for SuccessRegex {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for SuccessRegex {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(SuccessRegex::new)
    }
}
