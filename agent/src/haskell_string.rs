//! Haskell string literals, the form the reference agent gives the text of an `INTERNAL` error
//! (`ERR INTERNAL "SEMsgNotFound"`): it prints the string with Haskell's `show` and reads it
//! back with `read`.
//!
//! `show` quotes the string and escapes `"` and `\`, the control characters (`\n`, `\t`, ...,
//! or their ASCII names such as `\NUL`, `\ESC`, `\DEL`) and every character above U+007F as a
//! decimal escape (`\233`), so the result is plain ASCII. A decimal escape followed by a digit,
//! and `\SO` followed by `H`, get the empty escape `\&` so they read back unambiguously.
//! [`read`] takes everything `read` takes in a string literal: also `\'`, hex (`\x41`) and
//! octal (`\o101`) escapes, control escapes (`\^A`), and string gaps (`\` white space `\`).

use simplex_core::encoding::DecodeError;

/// The names of the control characters U+0000–U+001F and the space, as Haskell writes them.
const ASCII_NAMES: [&str; 33] = [
    "NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "HT", "LF", "VT", "FF", "CR",
    "SO", "SI", "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM", "SUB", "ESC",
    "FS", "GS", "RS", "US", "SP",
];

/// `text` as Haskell's `show` writes a `String`.
pub fn show(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7f}' => out.push_str("\\DEL"),
            c if u32::from(c) > 0x7f => {
                out.push('\\');
                out.push_str(&u32::from(c).to_string());
                if next.is_some_and(|n| n.is_ascii_digit()) {
                    out.push_str("\\&");
                }
            }
            c if c >= ' ' => out.push(c),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            '\u{e}' => {
                out.push_str("\\SO");
                if next == Some('H') {
                    out.push_str("\\&");
                }
            }
            c => {
                out.push('\\');
                // Every character left here is below U+0020.
                out.push_str(ASCII_NAMES.get(c as usize).copied().unwrap_or("NUL"));
            }
        }
    }
    out.push('"');
    out
}

/// Reads a Haskell string literal spanning all of `text` (white space around it allowed, as
/// `read` allows it).
pub fn read(text: &[u8]) -> Result<String, DecodeError> {
    let bad = DecodeError::Invalid("Haskell string literal");
    let text = std::str::from_utf8(text).map_err(|_| bad.clone())?;
    let text = text.trim_matches(|c: char| c.is_ascii_whitespace());
    let inner = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .ok_or(bad.clone())?;
    let mut out = String::new();
    let mut rest = inner;
    while let Some(c) = rest.chars().next() {
        rest = &rest[c.len_utf8()..];
        match c {
            '\\' => rest = escape(rest, &mut out).ok_or(bad.clone())?,
            // An unescaped quote would have ended the literal early.
            '"' => return Err(bad),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Reads one escape after its backslash into `out`; returns what follows it.
fn escape<'a>(rest: &'a str, out: &mut String) -> Option<&'a str> {
    let first = rest.chars().next()?;
    let after = &rest[first.len_utf8()..];
    let simple = match first {
        'a' => Some('\u{7}'),
        'b' => Some('\u{8}'),
        'f' => Some('\u{c}'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\u{b}'),
        '\\' => Some('\\'),
        '"' => Some('"'),
        '\'' => Some('\''),
        _ => None,
    };
    if let Some(c) = simple {
        out.push(c);
        return Some(after);
    }
    match first {
        '&' => Some(after),
        '^' => {
            let c = after.chars().next()?;
            if !('@'..='_').contains(&c) {
                return None;
            }
            out.push(char::from_u32(u32::from(c) - 0x40)?);
            Some(&after[1..])
        }
        'x' => numeric(after, 16, out),
        'o' => numeric(after, 8, out),
        '0'..='9' => numeric(rest, 10, out),
        c if c.is_ascii_whitespace() => {
            // A string gap: white space up to the closing backslash is dropped.
            let end = after.find(|c: char| !c.is_ascii_whitespace())?;
            after[end..].strip_prefix('\\')
        }
        _ => {
            // The longest name wins (`SOH` over `SO`), as in Haskell's lexer.
            let (code, name) = ASCII_NAMES
                .iter()
                .enumerate()
                .chain(std::iter::once((0x7f, &"DEL")))
                .filter(|(_, name)| rest.starts_with(**name))
                .max_by_key(|(_, name)| name.len())?;
            out.push(char::from_u32(u32::try_from(code).ok()?)?);
            Some(&rest[name.len()..])
        }
    }
}

/// Reads the digits of a numeric escape in `radix` into `out`.
fn numeric<'a>(digits: &'a str, radix: u32, out: &mut String) -> Option<&'a str> {
    let len = digits
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(digits.len());
    if len == 0 {
        return None;
    }
    let mut code: u32 = 0;
    for d in digits[..len].chars() {
        code = code.checked_mul(radix)?.checked_add(d.to_digit(radix)?)?;
        if code > 0x10_ffff {
            return None;
        }
    }
    out.push(char::from_u32(code)?);
    Some(&digits[len..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn shows_like_haskell() {
        // Each expected string is what GHC's `show` prints for the input.
        assert_eq!(show("SEMsgNotFound"), "\"SEMsgNotFound\"");
        assert_eq!(show("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(show("\n\t\u{0}\u{1b}\u{7f}"), "\"\\n\\t\\NUL\\ESC\\DEL\"");
        assert_eq!(show("é1"), "\"\\233\\&1\"");
        assert_eq!(show("éa"), "\"\\233a\"");
        assert_eq!(show("\u{e}H"), "\"\\SO\\&H\"");
        assert_eq!(show("\u{e}\u{1}"), "\"\\SO\\SOH\"");
        assert_eq!(show("it's"), "\"it's\"");
    }

    #[test]
    fn reads_every_escape_haskell_reads() {
        let read_str = |s: &str| read(s.as_bytes()).unwrap();
        assert_eq!(read_str(" \"x\" "), "x");
        assert_eq!(read_str("\"\\x41\\o102\\67\\^C\\'\""), "ABC\u{3}'");
        assert_eq!(read_str("\"\\SOH\\SO\\&H\""), "\u{1}\u{e}H");
        assert_eq!(read_str("\"a\\  \n \\b\""), "ab");
        assert_eq!(read_str("\"\\1114111\""), "\u{10ffff}");
    }

    #[test]
    fn refuses_what_haskell_refuses() {
        for bad in [
            "x",
            "\"x",
            "\"a\"b\"",
            "\"\\q\"",
            "\"\\1114112\"",
            "\"\\55296\"",
            "\"\\x\"",
            "\"\\^a\"",
            "\"\\",
        ] {
            assert!(read(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn show_then_read_is_identity(text in any::<String>()) {
            let shown = show(&text);
            prop_assert!(shown.is_ascii());
            prop_assert_eq!(read(shown.as_bytes()).unwrap(), text);
        }
    }
}
