//! The few SCALE encodings the chain payloads need (compact lengths, byte and u16 vectors,
//! strings), so payloads can be built and tested without the chain client.

/// Appends the SCALE compact encoding of `value`.
pub fn push_compact(out: &mut Vec<u8>, value: u64) {
    // Each branch's bound makes the narrowing exact.
    #[expect(clippy::cast_possible_truncation, reason = "value is below each branch's bound")]
    match value {
        0..=0x3f => out.push((value as u8) << 2),
        0x40..=0x3fff => out.extend_from_slice(&(((value as u16) << 2) | 0b01).to_le_bytes()),
        0x4000..=0x3fff_ffff => out.extend_from_slice(&(((value as u32) << 2) | 0b10).to_le_bytes()),
        _ => {
            let bytes = value.to_le_bytes();
            let used = 8 - (value.leading_zeros() / 8) as usize;
            out.push((((used - 4) as u8) << 2) | 0b11);
            out.extend_from_slice(&bytes[..used]);
        }
    }
}

/// Appends a length-prefixed byte vector (`Vec<u8>`, and `String` as its UTF-8 bytes).
pub fn push_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    push_compact(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Appends a length-prefixed `Vec<u16>`.
pub fn push_u16s(out: &mut Vec<u8>, values: &[u16]) {
    push_compact(out, values.len() as u64);
    for value in values {
        out.extend_from_slice(&value.to_le_bytes());
    }
}

/// `SCALE(String)`: compact length then UTF-8 bytes.
#[must_use]
pub fn encode_str(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 4);
    push_bytes(&mut out, text.as_bytes());
    out
}

/// Skips a leading compact length the way the Python reference does when it reads revealed
/// commitments: only the low two bits of the first byte are looked at (1, 2 or 4 prefix
/// bytes; the big-integer mode is treated as 4 bytes).
#[must_use]
pub fn strip_compact_prefix(bytes: &[u8]) -> &[u8] {
    let skip = match bytes.first().map(|b| b & 0b11) {
        None => 0,
        Some(0) => 1,
        Some(1) => 2,
        Some(_) => 4,
    };
    bytes.get(skip..).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_encoding_matches_scale_vectors() {
        let cases: [(u64, &[u8]); 6] = [
            (0, &[0x00]),
            (63, &[0xfc]),
            (64, &[0x01, 0x01]),
            (258, &[0x09, 0x04]),
            (1 << 14, &[0x02, 0x00, 0x01, 0x00]),
            (1 << 30, &[0x03, 0x00, 0x00, 0x00, 0x40]),
        ];
        for (value, expected) in cases {
            let mut out = Vec::new();
            push_compact(&mut out, value);
            assert_eq!(out, expected, "{value}");
        }
    }

    #[test]
    fn strip_compact_prefix_handles_one_two_and_four_byte_prefixes() {
        assert_eq!(strip_compact_prefix(&encode_str("abc")), b"abc");
        let long = "x".repeat(100);
        assert_eq!(strip_compact_prefix(&encode_str(&long)), long.as_bytes());
        let huge = "y".repeat(20_000);
        assert_eq!(strip_compact_prefix(&encode_str(&huge)), huge.as_bytes());
        assert_eq!(strip_compact_prefix(&[]), b"");
        assert_eq!(strip_compact_prefix(&[0x02]), b"");
    }
}
