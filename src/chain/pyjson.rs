//! Python's `json.dumps(value, sort_keys=True)` with its default settings, byte for byte.
//!
//! Defaults reproduced: separators `", "` and `": "`; `ensure_ascii=True`, so everything
//! outside printable ASCII is escaped as `\uXXXX` (lowercase hex, UTF-16 surrogate pairs above
//! U+FFFF) and `"`, `\`, `\n`, `\r`, `\t`, `\b`, `\f` get their short escapes; floats in
//! Python's `repr` (shortest round-trip digits, exponent form below 1e-4 and from 1e16 on, as
//! `1e-05` or `1.5e+16`); `NaN`/`Infinity` for non-finite floats (`allow_nan=True`); keys
//! sorted by code point.

use std::fmt::Write as _;

use serde_json::{Number, Value};

/// `json.dumps(value, sort_keys=True)`.
#[must_use]
pub fn dumps_sorted(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => write_number(out, number),
        Value::String(text) => write_string(out, text),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            // Rust orders strings by UTF-8 bytes, which is code-point order, as Python's sort.
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (index, (key, item)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                write_string(out, key);
                out.push_str(": ");
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

fn write_number(out: &mut String, number: &Number) {
    if let Some(unsigned) = number.as_u64() {
        out.push_str(&unsigned.to_string());
    } else if let Some(signed) = number.as_i64() {
        out.push_str(&signed.to_string());
    } else if let Some(float) = number.as_f64() {
        out.push_str(&float_repr(float));
    }
}

fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(ch),
            _ => {
                let mut units = [0_u16; 2];
                for unit in ch.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// Python's `repr(float)` as `json.dumps` writes it (`NaN`, `Infinity`, `-Infinity` for the
/// non-finite values).
#[must_use]
pub fn float_repr(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity".to_owned() } else { "-Infinity".to_owned() };
    }
    let sign = if value.is_sign_negative() { "-" } else { "" };
    if value == 0.0 {
        return format!("{sign}0.0");
    }
    // `{:e}` gives the shortest digits that round-trip, like Python's repr: "d.ddde<exp>".
    let scientific = format!("{:e}", value.abs());
    let (mantissa, exponent) = scientific.split_once('e').expect("{:e} always writes an exponent");
    let exponent: i32 = exponent.parse().expect("{:e} writes a decimal exponent");
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    // Python's decpt: the value is 0.DIGITS * 10^decpt.
    let decpt = exponent + 1;
    let body = if decpt <= -4 || decpt > 16 {
        let (first, rest) = digits.split_at(1);
        let fraction = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        format!("{first}{fraction}e{exponent_sign}{:02}", exponent.unsigned_abs())
    } else if decpt <= 0 {
        format!("0.{}{digits}", "0".repeat(decpt.unsigned_abs() as usize))
    } else {
        let point = decpt.unsigned_abs() as usize;
        if point >= digits.len() {
            format!("{digits}{}.0", "0".repeat(point - digits.len()))
        } else {
            format!("{}.{}", &digits[..point], &digits[point..])
        }
    };
    format!("{sign}{body}")
}

/// Python's `f"{value:.6f}"` (`inf`, `-inf`, `nan` for the non-finite values).
#[must_use]
pub fn format_fixed6(value: f64) -> String {
    if value.is_nan() {
        "nan".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "inf".to_owned() } else { "-inf".to_owned() }
    } else {
        format!("{value:.6}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_repr_matches_python_for_known_values() {
        let cases = [
            (1e-7, "1e-07"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (1e15, "1000000000000000.0"),
            (123_456_789_012_345_680.0, "1.2345678901234568e+17"),
            (0.1 + 0.2, "0.30000000000000004"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (-2.5, "-2.5"),
            (100.0, "100.0"),
            (1_763_000_000.999_999, "1763000000.999999"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (f64::NAN, "NaN"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
        ];
        for (value, expected) in cases {
            assert_eq!(float_repr(value), expected, "{value:e}");
        }
    }

    #[test]
    fn dumps_sorted_escapes_and_sorts_like_python() {
        let value: Value =
            serde_json::from_str(r#"{"b": [1, -2, 0.5, true, null], "a": "é\"\\\n\u0001😀~\u007f", "A": {}}"#).expect("json");
        assert_eq!(dumps_sorted(&value), r#"{"A": {}, "a": "\u00e9\"\\\n\u0001\ud83d\ude00~\u007f", "b": [1, -2, 0.5, true, null]}"#);
    }

    #[test]
    fn format_fixed6_matches_python() {
        assert_eq!(format_fixed6(0.1), "0.100000");
        assert_eq!(format_fixed6(-100.0), "-100.000000");
        assert_eq!(format_fixed6(-0.0), "-0.000000");
        assert_eq!(format_fixed6(41.7), "41.700000");
        assert_eq!(format_fixed6(0.000_000_5), "0.000000");
        assert_eq!(format_fixed6(f64::NAN), "nan");
        assert_eq!(format_fixed6(f64::NEG_INFINITY), "-inf");
    }
}
