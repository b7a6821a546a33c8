//! Python's text semantics where the task scorers depend on them: `str.splitlines`,
//! `str.strip`/`rstrip`, `repr` and `str` of JSON values, and `json.dumps` with its default
//! separators (`", "`, `": "`, `ensure_ascii=False`).

use std::fmt::Write as _;

use serde_json::Value;

/// `str.isspace` for one character (Unicode whitespace plus the ASCII separators 0x1c-0x1f).
#[must_use]
pub fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `s.strip()`.
#[must_use]
pub fn strip(text: &str) -> &str {
    text.trim_matches(is_space)
}

/// `s.rstrip()`.
#[must_use]
pub fn rstrip(text: &str) -> &str {
    text.trim_end_matches(is_space)
}

fn is_line_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{0b}' | '\u{0c}' | '\u{1c}' | '\u{1d}' | '\u{1e}' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// `s.splitlines()`: splits on every Python line boundary (`\r\n` counts once), no trailing
/// empty line.
#[must_use]
pub fn splitlines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((index, c)) = chars.next() {
        if is_line_break(c) {
            lines.push(&text[start..index]);
            let mut end = index + c.len_utf8();
            if c == '\r' && chars.peek().is_some_and(|&(_, next)| next == '\n') {
                chars.next();
                end += 1;
            }
            start = end;
        }
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// `repr(float)`: shortest round-trip digits, exponent form outside `1e-4 <= |x| < 1e16`.
#[must_use]
pub fn float_repr(value: f64) -> String {
    if value.is_nan() {
        return "nan".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if value == 0.0 {
        return if value.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    // `{:e}` gives the shortest round-trip digits as d.ddde<exp>.
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').expect("{:e} always has an exponent");
    let exponent: i32 = exponent.parse().expect("{:e} exponent is an integer");
    if (-4..16).contains(&exponent) {
        let plain = format!("{value}");
        if plain.contains('.') { plain } else { format!("{plain}.0") }
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    }
}

fn number_repr(number: &serde_json::Number) -> String {
    if number.is_f64() { number.as_f64().map_or_else(|| number.to_string(), float_repr) } else { number.to_string() }
}

/// `repr(str)`: single quotes unless the text has `'` and no `"`; escapes as `CPython` does
/// for the common cases (backslash, quote, `\n`, `\r`, `\t`, other control characters).
#[must_use]
pub fn str_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..0xa0).contains(&(c as u32)) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// `repr()` of the Python value a JSON value decodes to (`json.loads` then `repr`).
#[must_use]
pub fn repr(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(number) => number_repr(number),
        Value::String(text) => str_repr(text),
        Value::Array(items) => format!("[{}]", items.iter().map(repr).collect::<Vec<_>>().join(", ")),
        Value::Object(map) => {
            format!("{{{}}}", map.iter().map(|(k, v)| format!("{}: {}", str_repr(k), repr(v))).collect::<Vec<_>>().join(", "))
        }
    }
}

/// `str()` of the Python value a JSON value decodes to: strings as they are, the rest as
/// [`repr`]. This is what `print(value)` writes.
#[must_use]
pub fn str_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => repr(other),
    }
}

/// `json.dumps(value, ensure_ascii=False)` with the default separators.
#[must_use]
pub fn json_dumps(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number_repr(number),
        Value::String(text) => serde_json::to_string(text).expect("a string serializes"),
        Value::Array(items) => format!("[{}]", items.iter().map(json_dumps).collect::<Vec<_>>().join(", ")),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", serde_json::to_string(k).expect("a string serializes"), json_dumps(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn splitlines_matches_python() {
        assert_eq!(splitlines("a\r\nb\rc\n\nd\n"), vec!["a", "b", "c", "", "d"]);
        assert!(splitlines("").is_empty());
        assert_eq!(splitlines("x\u{2028}y"), vec!["x", "y"]);
    }

    #[test]
    fn repr_and_dumps_match_python() {
        let value = json!([1, 2.5, "it's", true, null, {"a": [1e20, 0.0001]}]);
        // python3 -c "print(repr([1, 2.5, \"it's\", True, None, {'a': [1e20, 0.0001]}]))"
        assert_eq!(repr(&value), "[1, 2.5, \"it's\", True, None, {'a': [1e+20, 0.0001]}]");
        assert_eq!(json_dumps(&value), "[1, 2.5, \"it's\", true, null, {\"a\": [1e+20, 0.0001]}]");
        assert_eq!(float_repr(1e16), "1e+16");
        assert_eq!(float_repr(1e-5), "1e-05");
        assert_eq!(float_repr(123.0), "123.0");
        assert_eq!(str_repr("a\nb'\""), "'a\\nb\\'\"'");
        assert_eq!(strip("\u{1f} x \n"), "x");
    }
}
