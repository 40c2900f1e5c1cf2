//! The TOML parser recurses once per nested array or inline table: text nested
//! deeper than any configuration needs is refused before it is parsed, so that
//! no file can exhaust the stack of the process the module is loaded into.

/// Deeper than any configuration nests (a table header is 2, `params = [{...}]` 3).
pub const MAX_NESTING: usize = 32;

/// The deepest nesting of `[` and `{` outside strings and comments.
pub fn deepest(text: &str) -> usize {
    let bytes = text.as_bytes();
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    while i < bytes.len() {
        let rest = &bytes[i..];
        if rest.starts_with(b"\"\"\"") || rest.starts_with(b"'''") {
            let quote = &rest[..3];
            let escapes = quote[0] == b'"';
            i += 3 + string_end(&bytes[i + 3..], quote, escapes);
            continue;
        }
        match bytes[i] {
            q @ (b'"' | b'\'') => i += 1 + string_end(&bytes[i + 1..], &[q], q == b'"'),
            b'#' => i += bytes[i..].iter().position(|&b| b == b'\n').unwrap_or(bytes.len() - i),
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
                i += 1;
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            _ => i += 1,
        }
    }
    deepest
}

/// Bytes up to and including the closing `quote` (or to the end).
fn string_end(bytes: &[u8], quote: &[u8], escapes: bool) -> usize {
    let mut i = 0;
    while i < bytes.len() {
        if escapes && bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if bytes[i..].starts_with(quote) {
            return i + quote.len();
        }
        // a single-line string ends at the line's end whatever follows
        if quote.len() == 1 && bytes[i] == b'\n' {
            return i;
        }
        i += 1;
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_brackets_outside_strings_and_comments() {
        assert_eq!(deepest("[otp]\nlength = 6\n"), 1);
        assert_eq!(deepest("[[connector]]\nparams = [{ a = \"[[[[\" }]\n"), 2);
        assert_eq!(deepest("a = '[[[[' # [[[[[[\nb = \"\"\"\n[[[[\n\"\"\"\nc = '''[[['''\n"), 0);
        assert_eq!(deepest("a = \"\\\"[[\"\nb = [[[1]]]\n"), 3);
        assert_eq!(deepest(&"[".repeat(100_000)), 100_000);
        assert_eq!(deepest("a = \"unterminated [[[\nb = [[1]]\n"), 2);
    }
}
