//! The shard reader: one pass over a shard's bytes that reads only the fields the scorer needs
//! and skips everything else (`extra.conversation`, prompts, signatures, chute objects)
//! without building it.
//!
//! Why hand-written: the skipped text is ~95% of a shard, and skipping it is a search for the
//! next quote, backslash or control character 32 bytes at a time, instead of a value-by-value
//! walk through a generic deserializer. Measured against the serde visitor it replaced, see
//! `benches/replay.rs` and CHANGELOG.md.
//!
//! The accepted text is the JSON grammar exactly as `serde_json` accepted it before, so the
//! same shards are accepted or rejected as a whole:
//! - skipped values are checked for structure, number syntax, string escapes and control
//!   characters, but (as `serde_json` skips them) not for UTF-8;
//! - values that are read (the elements themselves, the record's `miner`, `env`, `score`,
//!   `task_id`, `extra`, `timestamp`, `miner.{hotkey,model,revision,block}`,
//!   `extra.request` and `extra.request.task_id`, and the keys of those objects) are decoded
//!   fully: strings must be UTF-8 with paired surrogates, and a number too large for an `f64`
//!   rejects the shard;
//! - numbers are classified as `serde_json` does (an integer that fits `i64`, an integer that
//!   only fits `u64`, or a float; `-0` is a float), and floats are rounded correctly.
//!
//! Field rules (missing miner, booleans as integers, the `extra.request.task_id` fallback)
//! are the reference reader's and live in `RecordFields::compact`.

use std::borrow::Cow;

use super::CompactRecord;
use super::compact::{CompactShard, CompactShardBuilder};

/// Why a shard was rejected as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} at byte {offset}")]
pub struct ScanError {
    /// What was wrong.
    pub reason: &'static str,
    /// Byte offset into the shard.
    pub offset: usize,
}

type Scan<T> = Result<T, ScanError>;

/// Parses a shard (a JSON array of result records) into its usable records, in array order,
/// and the count of elements that were not usable.
///
/// # Errors
/// The bytes are not a JSON array (see the module docs for what is checked); the shard is
/// then rejected as a whole.
pub fn parse_shard(bytes: &[u8]) -> Result<CompactShard, ScanError> {
    let mut scanner = Scanner { bytes, pos: 0, stack: BitStack::default() };
    let mut builder = CompactShardBuilder::new();
    match scanner.peek() {
        Some(b'[') => scanner.pos += 1,
        Some(_) => return Err(scanner.error("not a JSON array")),
        None => return Err(scanner.error("empty shard")),
    }
    if scanner.peek() == Some(b']') {
        scanner.pos += 1;
    } else {
        loop {
            match scanner.element()? {
                Some(record) => builder.push(record),
                None => builder.push_invalid(),
            }
            match scanner.peek() {
                Some(b',') => scanner.pos += 1,
                Some(b']') => {
                    scanner.pos += 1;
                    break;
                }
                Some(_) => return Err(scanner.error("expected `,` or `]`")),
                None => return Err(scanner.error("end of data inside the array")),
            }
        }
    }
    if scanner.peek().is_some() {
        return Err(scanner.error("trailing characters after the array"));
    }
    Ok(builder.finish())
}

/// A JSON value reduced to what the field rules need.
#[derive(Debug, Clone, PartialEq)]
enum Loose<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    /// Arrays, objects, and integers that fit `u64` but not `i64`.
    Other,
}

impl Loose<'_> {
    /// Python's `isinstance(x, int)` view: booleans count as integers.
    fn as_python_int(&self) -> Option<i64> {
        match self {
            Loose::Int(value) => Some(*value),
            Loose::Bool(flag) => Some(i64::from(*flag)),
            _ => None,
        }
    }

    /// Python's `float(x)` for the JSON types it accepts without parsing text.
    fn as_python_float(&self) -> Option<f64> {
        match self {
            #[expect(clippy::cast_precision_loss, reason = "Python float() of an int rounds the same way")]
            Loose::Int(value) => Some(*value as f64),
            Loose::Float(value) => Some(*value),
            Loose::Bool(flag) => Some(f64::from(u8::from(*flag))),
            _ => None,
        }
    }
}

/// One bit per open container while skipping (set: object), so nesting costs 1 bit a level.
#[derive(Debug, Default)]
struct BitStack {
    words: Vec<u64>,
    len: usize,
}

impl BitStack {
    fn push(&mut self, object: bool) {
        let (word, bit) = (self.len / 64, self.len % 64);
        if word == self.words.len() {
            self.words.push(0);
        }
        if object {
            self.words[word] |= 1 << bit;
        } else {
            self.words[word] &= !(1 << bit);
        }
        self.len += 1;
    }

    /// The innermost container (`Some(true)`: an object), without removing it.
    fn top(&self) -> Option<bool> {
        let last = self.len.checked_sub(1)?;
        Some(self.words[last / 64] & (1 << (last % 64)) != 0)
    }

    fn pop(&mut self) {
        self.len -= 1;
    }
}

struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
    stack: BitStack,
}

/// `-significand` as `serde_json` reads it: an `i64` from -2^63 to -1, a float otherwise
/// (`-0` included).
#[expect(clippy::cast_possible_wrap, clippy::cast_precision_loss, reason = "serde_json's own conversions, bit for bit")]
fn negative_integer(significand: u64) -> Loose<'static> {
    let negated = (significand as i64).wrapping_neg();
    if negated >= 0 { Loose::Float(-(significand as f64)) } else { Loose::Int(negated) }
}

/// Whether `byte` ends a run of plain string text: a quote, a backslash, or a control
/// character (not allowed raw inside a JSON string).
fn is_special(byte: u8) -> bool {
    byte == b'"' || byte == b'\\' || byte < 0x20
}

/// Offset of the first [`is_special`] byte, eight bytes at a time (Mycroft's zero-byte test,
/// as `serde_json` does). Measured on production-shaped shards, where the average string run
/// is under 40 bytes, this beat `memchr2` plus a control-character pass and 16- or 32-byte
/// blocks: the cost per run matters more than the width.
fn find_special(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::MAX / 255;
    const HIGH: u64 = ONES << 7;
    // Empty strings and back-to-back escapes end at once.
    if is_special(*bytes.first()?) {
        return Some(0);
    }
    let mut offset = 1;
    let mut words = bytes[1..].chunks_exact(8);
    for word in &mut words {
        let word = u64::from_le_bytes(word.try_into().expect("chunks of 8"));
        let control = word.wrapping_sub(ONES * 0x20) & !word;
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        let found = (control | (quote.wrapping_sub(ONES) & !quote) | (backslash.wrapping_sub(ONES) & !backslash)) & HIGH;
        if found != 0 {
            return Some(offset + found.trailing_zeros() as usize / 8);
        }
        offset += 8;
    }
    words.remainder().iter().position(|&byte| is_special(byte)).map(|at| offset + at)
}

impl<'a> Scanner<'a> {
    fn error(&self, reason: &'static str) -> ScanError {
        ScanError { reason, offset: self.pos }
    }

    /// Skips whitespace and returns the next byte without consuming it.
    fn peek(&mut self) -> Option<u8> {
        while let Some(&byte) = self.bytes.get(self.pos) {
            if !matches!(byte, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(byte);
            }
            self.pos += 1;
        }
        None
    }

    fn eat(&mut self, expected: u8, reason: &'static str) -> Scan<()> {
        if self.peek() == Some(expected) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(reason))
        }
    }

    fn literal(&mut self, text: &'static [u8]) -> Scan<()> {
        if self.bytes.get(self.pos..self.pos + text.len()) == Some(text) {
            self.pos += text.len();
            Ok(())
        } else {
            Err(self.error("invalid literal"))
        }
    }

    /// Moves to the next quote or backslash of a string; a control character or the end of
    /// the data first is an error.
    fn seek_special(&mut self) -> Scan<u8> {
        let Some(found) = find_special(&self.bytes[self.pos..]) else {
            self.pos = self.bytes.len();
            return Err(self.error("end of data inside a string"));
        };
        self.pos += found;
        match self.bytes[self.pos] {
            byte @ (b'"' | b'\\') => Ok(byte),
            _ => Err(self.error("control character inside a string")),
        }
    }

    /// Consumes the rest of a string (after its opening quote) without decoding it.
    fn skip_string(&mut self) -> Scan<()> {
        loop {
            let special = self.seek_special()?;
            self.pos += 1;
            if special == b'"' {
                return Ok(());
            }
            self.skip_escape()?;
        }
    }

    /// Checks one escape (after its backslash) without decoding it.
    fn skip_escape(&mut self) -> Scan<()> {
        match self.bytes.get(self.pos) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                self.pos += 1;
                Ok(())
            }
            Some(b'u') => {
                self.pos += 1;
                self.hex4().map(|_| ())
            }
            _ => Err(self.error("invalid escape")),
        }
    }

    fn hex4(&mut self) -> Scan<u16> {
        let digits = self.bytes.get(self.pos..self.pos + 4).ok_or_else(|| self.error("end of data inside an escape"))?;
        let mut value = 0_u16;
        for &digit in digits {
            let nibble = char::from(digit).to_digit(16).ok_or_else(|| self.error("invalid \\u escape"))?;
            value = value * 16 + u16::try_from(nibble).expect("a hex digit fits u16");
        }
        self.pos += 4;
        Ok(value)
    }

    /// Reads the rest of a string (after its opening quote), decoded and checked.
    fn read_string(&mut self) -> Scan<Cow<'a, str>> {
        let start = self.pos;
        if self.seek_special()? == b'"' {
            let bytes: &'a [u8] = self.bytes;
            let text = std::str::from_utf8(&bytes[start..self.pos]).map_err(|_| self.error("invalid UTF-8 in a string"))?;
            self.pos += 1;
            return Ok(Cow::Borrowed(text));
        }
        self.read_escaped_string(start)
    }

    /// Reads the rest of an object key (after its opening quote), checked like any read string;
    /// the common plain ASCII key is compared as bytes, without building a `str`.
    fn read_key(&mut self) -> Scan<Cow<'a, [u8]>> {
        let start = self.pos;
        if self.seek_special()? == b'"' {
            let bytes: &'a [u8] = self.bytes;
            let raw = &bytes[start..self.pos];
            if !raw.is_ascii() && std::str::from_utf8(raw).is_err() {
                return Err(self.error("invalid UTF-8 in a string"));
            }
            self.pos += 1;
            return Ok(Cow::Borrowed(raw));
        }
        Ok(match self.read_escaped_string(start)? {
            Cow::Borrowed(text) => Cow::Borrowed(text.as_bytes()),
            Cow::Owned(text) => Cow::Owned(text.into_bytes()),
        })
    }

    #[cold]
    fn read_escaped_string(&mut self, start: usize) -> Scan<Cow<'a, str>> {
        let mut text = String::new();
        self.pos = start;
        loop {
            let run_start = self.pos;
            let special = self.seek_special()?;
            // A backslash or quote is never part of a multi-byte character, so each run between
            // escapes is whole UTF-8 when the string is.
            let run = std::str::from_utf8(&self.bytes[run_start..self.pos]).map_err(|_| self.error("invalid UTF-8 in a string"))?;
            text.push_str(run);
            self.pos += 1;
            if special == b'"' {
                return Ok(Cow::Owned(text));
            }
            self.read_escape(&mut text)?;
        }
    }

    fn read_escape(&mut self, text: &mut String) -> Scan<()> {
        let byte = *self.bytes.get(self.pos).ok_or_else(|| self.error("end of data inside an escape"))?;
        self.pos += 1;
        let decoded = match byte {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let first = self.hex4()?;
                match first {
                    0xDC00..=0xDFFF => return Err(self.error("lone surrogate in a \\u escape")),
                    0xD800..=0xDBFF => {
                        if self.bytes.get(self.pos..self.pos + 2) != Some(b"\\u") {
                            return Err(self.error("lone surrogate in a \\u escape"));
                        }
                        self.pos += 2;
                        let second = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&second) {
                            return Err(self.error("lone surrogate in a \\u escape"));
                        }
                        let code = 0x1_0000 + ((u32::from(first) - 0xD800) << 10 | (u32::from(second) - 0xDC00));
                        char::from_u32(code).expect("a surrogate pair is a valid scalar value")
                    }
                    other => char::from_u32(u32::from(other)).expect("a non-surrogate BMP code point is a char"),
                }
            }
            _ => return Err(self.error("invalid escape")),
        };
        text.push(decoded);
        Ok(())
    }

    /// Consumes a number (its first byte is `-` or a digit); returns where it started and
    /// whether it is an integer (no fraction or exponent).
    fn number(&mut self) -> Scan<(usize, bool)> {
        let start = self.pos;
        if self.bytes.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        match self.bytes.get(self.pos) {
            Some(b'0') => {
                self.pos += 1;
                if self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
                    return Err(self.error("invalid number (leading zero)"));
                }
            }
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error("invalid number")),
        }
        let mut integer = true;
        if self.bytes.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            integer = false;
            if !self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
                return Err(self.error("invalid number"));
            }
            self.digits();
        }
        if matches!(self.bytes.get(self.pos), Some(b'e' | b'E')) {
            self.pos += 1;
            integer = false;
            if matches!(self.bytes.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
                return Err(self.error("invalid number"));
            }
            self.digits();
        }
        Ok((start, integer))
    }

    fn digits(&mut self) {
        while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
    }

    /// Reads a number as `serde_json` classifies it.
    fn read_number(&mut self) -> Scan<Loose<'a>> {
        let (start, integer) = self.number()?;
        let token = &self.bytes[start..self.pos];
        let (negative, digits) = match token.split_first() {
            Some((b'-', digits)) => (true, digits),
            _ => (false, token),
        };
        if integer {
            let mut significand = 0_u64;
            let fits = digits.iter().all(|&digit| {
                significand = match significand.checked_mul(10).and_then(|s| s.checked_add(u64::from(digit - b'0'))) {
                    Some(next) => next,
                    None => return false,
                };
                true
            });
            if fits {
                return Ok(if negative {
                    negative_integer(significand)
                } else {
                    i64::try_from(significand).map_or(Loose::Other, Loose::Int)
                });
            }
        }
        let text = std::str::from_utf8(token).expect("a number token is ASCII");
        let value: f64 = text.parse().map_err(|_| self.error("invalid number"))?;
        if value.is_infinite() {
            return Err(ScanError { reason: "number out of range", offset: start });
        }
        Ok(Loose::Float(value))
    }

    /// Reads any value whose content the field rules look at: scalars decoded, containers
    /// skipped.
    fn read_loose(&mut self) -> Scan<Loose<'a>> {
        match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                self.read_string().map(Loose::Str)
            }
            Some(b'-' | b'0'..=b'9') => self.read_number(),
            Some(b't') => self.literal(b"true").map(|()| Loose::Bool(true)),
            Some(b'f') => self.literal(b"false").map(|()| Loose::Bool(false)),
            Some(b'n') => self.literal(b"null").map(|()| Loose::Null),
            Some(b'[' | b'{') => self.skip_value().map(|()| Loose::Other),
            Some(_) => Err(self.error("expected a value")),
            None => Err(self.error("end of data, expected a value")),
        }
    }

    /// Skips one value, checking its structure but decoding nothing. Iterative, so nesting
    /// depth costs one bit per level, never stack.
    fn skip_value(&mut self) -> Scan<()> {
        'value: loop {
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    self.skip_string()?;
                }
                Some(b'-' | b'0'..=b'9') => {
                    self.number()?;
                }
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'n') => self.literal(b"null")?,
                Some(b'[') => {
                    self.pos += 1;
                    if self.peek() == Some(b']') {
                        self.pos += 1;
                    } else {
                        self.stack.push(false);
                        continue 'value;
                    }
                }
                Some(b'{') => {
                    self.pos += 1;
                    if self.peek() == Some(b'}') {
                        self.pos += 1;
                    } else {
                        self.stack.push(true);
                        self.skip_key()?;
                        continue 'value;
                    }
                }
                Some(_) => return Err(self.error("expected a value")),
                None => return Err(self.error("end of data, expected a value")),
            }
            // After a value: close containers until one continues with a comma.
            loop {
                let Some(object) = self.stack.top() else { return Ok(()) };
                match (self.peek(), object) {
                    (Some(b','), _) => {
                        self.pos += 1;
                        if object {
                            self.skip_key()?;
                        }
                        continue 'value;
                    }
                    (Some(b']'), false) | (Some(b'}'), true) => {
                        self.pos += 1;
                        self.stack.pop();
                    }
                    (Some(_), false) => return Err(self.error("expected `,` or `]`")),
                    (Some(_), true) => return Err(self.error("expected `,` or `}`")),
                    (None, _) => return Err(self.error("end of data inside a container")),
                }
            }
        }
    }

    /// Skips `"key":` inside an object being skipped.
    fn skip_key(&mut self) -> Scan<()> {
        self.eat(b'"', "object key is not a string")?;
        self.skip_string()?;
        self.eat(b':', "expected `:`")
    }

    /// Walks an object whose opening brace is next, calling `field` with each key; `field`
    /// must consume the value.
    fn object(&mut self, mut field: impl FnMut(&mut Self, &[u8]) -> Scan<()>) -> Scan<()> {
        self.pos += 1;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.eat(b'"', "object key is not a string")?;
            let key = self.read_key()?;
            self.eat(b':', "expected `:`")?;
            field(self, &key)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(_) => return Err(self.error("expected `,` or `}`")),
                None => return Err(self.error("end of data inside an object")),
            }
        }
    }

    /// An object read field by field, or any other value read and reported as not an object.
    fn object_or_skip<T: Default>(&mut self, mut field: impl FnMut(&mut Self, &mut T, &[u8]) -> Scan<()>) -> Scan<Shaped<T>> {
        if self.peek() != Some(b'{') {
            return self.read_loose().map(|_| Shaped::Other);
        }
        let mut fields = T::default();
        self.object(|scanner, key| field(scanner, &mut fields, key))?;
        Ok(Shaped::Object(fields))
    }

    /// One array element: a record, or `None` when it is not an object or not usable.
    fn element(&mut self) -> Scan<Option<CompactRecord<'a>>> {
        let fields = self.object_or_skip(|s, fields: &mut RecordFields<'a>, key| {
            match key {
                b"miner" => fields.miner = Some(s.miner()?),
                b"env" => fields.env = Some(s.read_loose()?),
                b"score" => fields.score = Some(s.read_loose()?),
                b"task_id" => fields.task_id = Some(s.read_loose()?),
                b"extra" => fields.extra = Some(s.extra()?),
                b"timestamp" => fields.timestamp = Some(s.read_loose()?),
                _ => s.skip_value()?,
            }
            Ok(())
        })?;
        Ok(match fields {
            Shaped::Object(fields) => fields.compact(),
            Shaped::Other => None,
        })
    }

    fn miner(&mut self) -> Scan<Shaped<MinerFields<'a>>> {
        self.object_or_skip(|s, miner: &mut MinerFields<'a>, key| {
            let slot = match key {
                b"hotkey" => &mut miner.hotkey,
                b"model" => &mut miner.model,
                b"revision" => &mut miner.revision,
                b"block" => &mut miner.block,
                _ => return s.skip_value(),
            };
            *slot = Some(s.read_loose()?);
            Ok(())
        })
    }

    /// `extra`, for `extra.request.task_id` only.
    fn extra(&mut self) -> Scan<Shaped<Option<Loose<'a>>>> {
        self.object_or_skip(|s, task_id: &mut Option<Loose<'a>>, key| {
            if key != b"request" {
                return s.skip_value();
            }
            let request = s.object_or_skip(|s, task_id: &mut Option<Loose<'a>>, key| {
                if key == b"task_id" {
                    *task_id = Some(s.read_loose()?);
                    Ok(())
                } else {
                    s.skip_value()
                }
            })?;
            *task_id = match request {
                Shaped::Object(id) => id,
                Shaped::Other => None,
            };
            Ok(())
        })
    }
}

/// A value where the reader expects an object: the object's fields, or any other value.
enum Shaped<T> {
    Object(T),
    Other,
}

/// The `miner` object's fields.
#[derive(Default)]
struct MinerFields<'a> {
    hotkey: Option<Loose<'a>>,
    model: Option<Loose<'a>>,
    revision: Option<Loose<'a>>,
    block: Option<Loose<'a>>,
}

/// Every top-level field the scorer reads (`None`: absent); a repeated key keeps its last
/// value. `extra` is reduced to `extra.request.task_id`.
#[derive(Default)]
struct RecordFields<'a> {
    miner: Option<Shaped<MinerFields<'a>>>,
    env: Option<Loose<'a>>,
    score: Option<Loose<'a>>,
    task_id: Option<Loose<'a>>,
    extra: Option<Shaped<Option<Loose<'a>>>>,
    timestamp: Option<Loose<'a>>,
}

fn optional_text(value: Option<Loose<'_>>) -> Result<Option<Cow<'_, str>>, ()> {
    match value {
        None | Some(Loose::Null) => Ok(None),
        Some(Loose::Str(text)) => Ok(Some(text)),
        Some(_) => Err(()),
    }
}

impl<'a> RecordFields<'a> {
    /// Applies the reference reader's defaults and type rules; `None` when the record is not
    /// usable.
    fn compact(self) -> Option<CompactRecord<'a>> {
        // `data.get('miner', {})`: a missing miner reads as an empty one; a non-object fails.
        let miner = match self.miner {
            None => MinerFields::default(),
            Some(Shaped::Object(miner)) => miner,
            Some(Shaped::Other) => return None,
        };
        let hotkey = match miner.hotkey {
            None => Cow::Borrowed(""),
            Some(Loose::Str(text)) => text,
            Some(_) => return None,
        };
        let model = optional_text(miner.model).ok()?;
        let revision = optional_text(miner.revision).ok()?;
        #[expect(clippy::cast_possible_truncation, reason = "Python int() truncates toward zero too")]
        let block = match miner.block {
            Some(Loose::Int(value)) => Some(value),
            Some(Loose::Float(value)) if value.is_finite() => Some(value.trunc() as i64),
            _ => None,
        };
        let Some(Loose::Str(env)) = self.env else { return None };
        let score = match self.score {
            None => 0.0,
            Some(value) => value.as_python_float()?,
        };
        let task_id = match self.task_id {
            None | Some(Loose::Null) => match self.extra {
                Some(Shaped::Object(Some(id))) => id.as_python_int(),
                _ => None,
            },
            Some(value) => value.as_python_int(),
        };
        let timestamp = match self.timestamp {
            None | Some(Loose::Null) => 0.0,
            Some(value) => value.as_python_float()?,
        };
        Some(CompactRecord { hotkey, model, revision, block, env, score, task_id, timestamp })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(json: &str) -> (Vec<CompactRecord<'static>>, u64) {
        let shard = parse_shard(json.as_bytes()).expect("valid shard");
        let records = shard
            .records()
            .map(|r| CompactRecord {
                hotkey: Cow::Owned(r.hotkey.into_owned()),
                model: r.model.map(|m| Cow::Owned(m.into_owned())),
                revision: r.revision.map(|m| Cow::Owned(m.into_owned())),
                env: Cow::Owned(r.env.into_owned()),
                ..r
            })
            .collect();
        (records, shard.invalid())
    }

    #[test]
    fn reads_fields_and_falls_back_to_request_task_id() {
        let json = r#"[{"miner":{"uid":1,"hotkey":"hk","model":"u/Affine-x","revision":"r1","block":7.9},
            "env":"affine:sat","score":1,"task_id":null,"extra":{"request":{"task_id":12,"seed":3}},
            "timestamp":1.5,"conversation":[{"role":"user","content":"a \"quoted\" prompt"}]}]"#;
        let (parsed, invalid) = records(json);
        assert_eq!(invalid, 0);
        assert_eq!(
            parsed,
            vec![CompactRecord {
                hotkey: "hk".into(),
                model: Some("u/Affine-x".into()),
                revision: Some("r1".into()),
                block: Some(7),
                env: "affine:sat".into(),
                score: 1.0,
                task_id: Some(12),
                timestamp: 1.5,
            }]
        );
    }

    #[test]
    fn top_level_task_id_wins_even_when_not_an_integer() {
        let (parsed, _) = records(r#"[{"miner":{"hotkey":"h"},"env":"e","task_id":"5","extra":{"request":{"task_id":5}}}]"#);
        assert_eq!(parsed[0].task_id, None);
        assert!((parsed[0].score - 0.0).abs() < f64::EPSILON);
    }

    #[test]
    fn wrong_types_are_counted_not_errors() {
        let (parsed, invalid) = records(
            r#"[1, "x", null, [], {"miner":5,"env":"e"}, {"miner":{"hotkey":"h"},"env":3},
            {"miner":{"hotkey":"h"},"env":"e","score":"0.5"}, {"miner":{"hotkey":"h"},"env":"e","score":0.5}]"#,
        );
        assert_eq!((parsed.len(), invalid), (1, 7));
    }

    #[test]
    fn escaped_keys_and_values_are_decoded_and_repeated_keys_keep_the_last() {
        let (parsed, _) = records(r#"[{"en\u0076":"first","env":"affine:\u0073at","miner":{"hotkey":"\ud83d\ude00 h\n"},"task_id":3}]"#);
        assert_eq!(parsed[0].env, "affine:sat");
        assert_eq!(parsed[0].hotkey, "\u{1F600} h\n");
        assert_eq!(parsed[0].task_id, Some(3));
    }

    #[test]
    fn numbers_are_classified_as_serde_json_does() {
        let task = |text: &str| records(&format!(r#"[{{"env":"e","task_id":{text},"miner":{{"block":{text}}}}}]"#)).0[0].clone();
        assert_eq!(task("-9223372036854775808").task_id, Some(i64::MIN));
        assert_eq!(task("9223372036854775807").task_id, Some(i64::MAX));
        assert_eq!(task("9223372036854775808").task_id, None, "fits u64 only");
        assert_eq!(task("-0").task_id, None, "-0 is a float");
        assert_eq!(task("-0").block, Some(0));
        assert_eq!(task("2.0").task_id, None);
        assert_eq!(task("1e2").block, Some(100));
        assert_eq!(task("true").task_id, Some(1));
        assert_eq!(task("123456789012345678901234").block, Some(i64::MAX), "a float beyond i64 saturates");
        let (parsed, _) = records(r#"[{"env":"e","timestamp":1763112872.6111987,"score":-1E-3}]"#);
        assert_eq!(parsed[0].timestamp.to_bits(), 1_763_112_872.611_198_7_f64.to_bits());
        assert_eq!(parsed[0].score.to_bits(), (-0.001_f64).to_bits());
    }

    #[test]
    fn rejects_what_is_not_a_json_array_as_a_whole() {
        for bad in [
            "",
            "  ",
            r#"{"a":1}"#,
            r#"[{"miner":{"hotkey":"h"},"env":"e"}, {"#,
            "[1,]",
            "[1 2]",
            "[01]",
            "[1.]",
            "[-]",
            "[1e]",
            "[tru]",
            "[] x",
            r#"[{"a" 1}]"#,
            r#"[{"a":1,}]"#,
            r"[{1:1}]",
            r#"[{"extra":{"x":[1,{"y":2,}]},"env":"e"}]"#,
            "[\"a\u{1}b\"]",
            r#"["\x"]"#,
            r#"["\u12g4"]"#,
            r#"[{"env":"\ud800"}]"#,
            r#"[{"env":"\udc00x"}]"#,
            r#"[{"score":1e400}]"#,
            "[1e400]",
            "[\"\u{0}\"]",
        ] {
            assert!(parse_shard(bad.as_bytes()).is_err(), "{bad:?} must be rejected");
        }
        assert!(parse_shard(b"[{\"env\":\"\xff\"}]").is_err(), "read strings are UTF-8");
    }

    #[test]
    fn skipped_values_are_checked_for_structure_not_utf8_or_range() {
        let shard =
            parse_shard(b"[{\"env\":\"e\",\"extra\":{\"c\":\"\xff\",\"n\":1e400,\"d\":[[[{}]]]},\"k\":\"\\ud800\"}]").expect("accepted");
        assert_eq!((shard.rows().len(), shard.invalid()), (1, 0));
        let deep = format!("[{}{}]", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(parse_shard(deep.as_bytes()).expect("deep nesting is fine").invalid(), 1);
    }
}

#[cfg(test)]
mod properties {
    //! The reader against an oracle: `serde_json::Value` with the reference reader's rules,
    //! on random JSON whose keys are the ones the reader looks for.

    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            any::<f64>().prop_filter("JSON has no NaN or infinity", |f| f.is_finite()).prop_map(|f| json!(f)),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(
                    (
                        prop_oneof![
                            "miner",
                            "env",
                            "score",
                            "task_id",
                            "extra",
                            "request",
                            "hotkey",
                            "model",
                            "revision",
                            "block",
                            "timestamp",
                            ".{0,6}"
                        ],
                        inner
                    ),
                    0..6
                )
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
            ]
        })
    }

    fn loose(value: &Value) -> Loose<'_> {
        match value {
            Value::String(text) => Loose::Str(Cow::Borrowed(text)),
            Value::Bool(flag) => Loose::Bool(*flag),
            Value::Null => Loose::Null,
            Value::Number(number) => {
                if let Some(n) = number.as_i64() {
                    Loose::Int(n)
                } else if number.is_u64() {
                    Loose::Other
                } else {
                    Loose::Float(number.as_f64().expect("a float"))
                }
            }
            Value::Array(_) | Value::Object(_) => Loose::Other,
        }
    }

    /// The field rules applied to a parsed value.
    fn oracle(value: &Value) -> Option<CompactRecord<'_>> {
        let record = value.as_object()?;
        let shaped = |v: &Value| if v.is_object() { Shaped::Object(()) } else { Shaped::Other };
        let fields = RecordFields {
            miner: record.get("miner").map(|m| match shaped(m) {
                Shaped::Object(()) => Shaped::Object(MinerFields {
                    hotkey: m.get("hotkey").map(loose),
                    model: m.get("model").map(loose),
                    revision: m.get("revision").map(loose),
                    block: m.get("block").map(loose),
                }),
                Shaped::Other => Shaped::Other,
            }),
            env: record.get("env").map(loose),
            score: record.get("score").map(loose),
            task_id: record.get("task_id").map(loose),
            extra: record.get("extra").map(|extra| match extra.as_object() {
                Some(extra) => Shaped::Object(extra.get("request").and_then(|r| r.as_object()).and_then(|r| r.get("task_id")).map(loose)),
                None => Shaped::Other,
            }),
            timestamp: record.get("timestamp").map(loose),
        };
        fields.compact()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn parse_shard_never_panics_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_shard(&bytes);
        }

        #[test]
        fn parse_shard_accepts_json_arrays_only(value in any_json(), pretty in any::<bool>()) {
            let text = if pretty { serde_json::to_vec_pretty(&value) } else { serde_json::to_vec(&value) }.expect("serialisable");
            let parsed = parse_shard(&text);
            if let Value::Array(items) = &value {
                let shard = parsed.expect("an array is a shard");
                prop_assert_eq!(shard.rows().len() as u64 + shard.invalid(), items.len() as u64);
            } else {
                prop_assert!(parsed.is_err());
            }
        }

        #[test]
        fn parse_shard_agrees_with_the_oracle(
            records in prop::collection::vec(
                (any_json(), any_json(), any_json(), any_json(), any_json(), any_json(), any::<bool>()),
                0..8,
            )
        ) {
            let items: Vec<Value> = records
                .into_iter()
                .map(|(miner, env, score, task, extra, noise, plain_env)| {
                    let env = if plain_env { json!("affine:sat") } else { env };
                    json!({"miner": miner, "env": env, "score": score, "task_id": task, "extra": extra, "noise": noise})
                })
                .collect();
            let text = serde_json::to_vec(&items).expect("serialisable");
            let shard = parse_shard(&text).expect("an array is a shard");
            let expected: Vec<CompactRecord<'_>> = items.iter().filter_map(oracle).collect();
            let actual: Vec<CompactRecord<'_>> = shard.records().collect();
            prop_assert_eq!(actual, expected);
            prop_assert_eq!(shard.invalid(), (items.len() - shard.rows().len()) as u64);
        }
    }
}
