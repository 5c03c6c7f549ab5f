//! A JSON reader for verified webhook bodies: one pass over the text, nothing copied.
//!
//! The producer reads each body once, into a tree of slices of the body ([`Json`]): strings stay
//! as written until someone needs their text, numbers stay as their token. The idempotency key,
//! the envelope and the booking are all read from that tree. serde_json's `Value` would allocate
//! a `String` per string and a `BTreeMap` per object, and the producer's CPU per request must stay
//! below a plain JavaScript worker's (see docs/PERFORMANCE.md).
//!
//! It accepts what serde_json accepts (RFC 8259; a number serde_json cannot hold in an `f64`, such
//! as `1e999`, is refused where the value is kept), so a body reads the same as it always has.
//! Values are nested at most [`MAX_LEVELS`] deep, serde_json's limit; a value nobody reads is
//! checked and skipped without recursion ([`Parser::skip_value`]), so its depth costs no stack.

use std::borrow::Cow;

/// Nesting allowed in a value that is kept (serde_json's recursion limit: 128 levels refused).
pub const MAX_LEVELS: usize = 127;

/// A JSON value borrowed from the text it was read from.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    /// The number's token as written; serde_json reads it (checked by the parser).
    Number(&'a str),
    String(JsonStr<'a>),
    Array(Vec<Json<'a>>),
    /// Entries in written order. A repeated key appears each time; [`Json::get`] takes the last,
    /// as serde_json does.
    Object(Vec<(JsonStr<'a>, Json<'a>)>),
}

/// A string as written between its quotes: escapes are decoded only when the text is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonStr<'a> {
    raw: &'a str,
    escaped: bool,
}

/// What went wrong while reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonError {
    /// Not JSON at this byte offset.
    Syntax { at: usize },
    /// Nested deeper than [`MAX_LEVELS`].
    TooDeep,
}

static NULL: Json<'static> = Json::Null;

impl<'a> Json<'a> {
    /// The last value under `key` of an object; `null` when missing or not an object.
    #[inline]
    pub fn get(&self, key: &str) -> &Json<'a> {
        self.entries()
            .iter()
            .rev()
            .find(|(k, _)| k.is(key))
            .map_or(&NULL, |(_, v)| v)
    }

    /// An object's entries in written order; empty for any other kind.
    pub fn entries(&self) -> &[(JsonStr<'a>, Json<'a>)] {
        match self {
            Json::Object(entries) => entries,
            _ => &[],
        }
    }

    pub fn as_array(&self) -> Option<&[Json<'a>]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    /// Whether the value is an object (whose key `key` is present, when given).
    pub fn has_key(&self, key: &str) -> bool {
        self.entries().iter().any(|(k, _)| k.is(key))
    }

    /// The kind, as a person reads it ("an array", "true" …), for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(true) => "true",
            Json::Bool(false) => "false",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }
}

impl<'a> JsonStr<'a> {
    /// The text, escapes decoded. Inlined: out of line, its `Cow` comes back through memory
    /// and the caller's copy of it stalls (most of the key walk's sorting time).
    #[inline]
    pub fn text(&self) -> Cow<'a, str> {
        if self.escaped {
            Cow::Owned(unescape(self.raw))
        } else {
            Cow::Borrowed(self.raw)
        }
    }

    /// Whether the text equals `s` (without decoding when nothing is escaped).
    #[inline]
    pub fn is(&self, s: &str) -> bool {
        if self.escaped {
            self.text() == s
        } else {
            self.raw == s
        }
    }

    /// As written between the quotes; exactly the text when [`JsonStr::is_plain`].
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// No escape in it: the raw text is the text, and serde_json would write it unchanged.
    pub fn is_plain(&self) -> bool {
        !self.escaped
    }
}

/// Reads JSON text from the start; the caller says what each value is for.
pub struct Parser<'a> {
    text: &'a str,
    at: usize,
    /// The entries and items of the containers being read, innermost last. A container's own
    /// `Vec` is made when it closes, at its exact size: one allocation each, instead of the
    /// several of a `Vec` growing as it is read.
    entries: Vec<(JsonStr<'a>, Json<'a>)>,
    items: Vec<Json<'a>>,
}

impl<'a> Parser<'a> {
    pub fn new(text: &'a str) -> Self {
        Self {
            text,
            at: 0,
            entries: Vec::new(),
            items: Vec::new(),
        }
    }

    /// Byte offset of the next unread byte.
    pub fn offset(&self) -> usize {
        self.at
    }

    /// The next byte after white space, not consumed.
    #[inline]
    pub fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.text.as_bytes().get(self.at).copied()
    }

    /// Only white space remains.
    pub fn end(&mut self) -> Result<(), JsonError> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.syntax()),
        }
    }

    /// Reads an object key by key: `entry` gets each key with the parser at its value, which it
    /// must read ([`Parser::value`]) or skip ([`Parser::skip_value`]).
    pub fn object<E: From<JsonError>>(
        &mut self,
        mut entry: impl FnMut(&mut Self, JsonStr<'a>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.eat(b'{')?;
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(());
        }
        loop {
            let key = self.key()?;
            entry(self, key)?;
            if self.comma_or(b'}')? {
                return Ok(());
            }
        }
    }

    /// Reads one value into a tree, at most `levels` deep.
    pub fn value(&mut self, levels: usize) -> Result<Json<'a>, JsonError> {
        match self.peek() {
            Some(b'{') => {
                let inner = levels.checked_sub(1).ok_or(JsonError::TooDeep)?;
                let start = self.entries.len();
                self.object(|p, key| {
                    let value = p.value(inner)?;
                    p.entries.push((key, value));
                    Ok::<_, JsonError>(())
                })?;
                Ok(Json::Object(self.entries.split_off(start)))
            }
            Some(b'[') => {
                let inner = levels.checked_sub(1).ok_or(JsonError::TooDeep)?;
                self.at += 1;
                let start = self.items.len();
                if self.peek() == Some(b']') {
                    self.at += 1;
                } else {
                    loop {
                        let item = self.value(inner)?;
                        self.items.push(item);
                        if self.comma_or(b']')? {
                            break;
                        }
                    }
                }
                Ok(Json::Array(self.items.split_off(start)))
            }
            _ => self.scalar(true),
        }
    }

    /// Checks one value and moves past it, at any depth, without recursion: serde_json skips
    /// an unread field the same way.
    pub fn skip_value(&mut self) -> Result<(), JsonError> {
        self.walk(usize::MAX, false)
    }

    /// Checks one value exactly as [`Parser::value`] reads it (at most `levels` deep, every
    /// number one serde_json can hold) and moves past it, building nothing.
    pub fn check_value(&mut self, levels: usize) -> Result<(), JsonError> {
        self.walk(levels, true)
    }

    /// Moves past one value without recursion; `levels` and `keep` as for [`Parser::value`].
    fn walk(&mut self, levels: usize, keep: bool) -> Result<(), JsonError> {
        // The open containers, innermost last: `true` for an object.
        let mut open: Vec<bool> = Vec::new();
        loop {
            let opens = matches!(self.peek(), Some(b'{' | b'['));
            if opens && open.len() >= levels {
                return Err(JsonError::TooDeep);
            }
            match self.peek() {
                Some(b'{') => {
                    self.at += 1;
                    if self.peek() == Some(b'}') {
                        self.at += 1;
                    } else {
                        open.push(true);
                        self.key()?;
                        continue;
                    }
                }
                Some(b'[') => {
                    self.at += 1;
                    if self.peek() == Some(b']') {
                        self.at += 1;
                    } else {
                        open.push(false);
                        continue;
                    }
                }
                _ => {
                    self.scalar(keep)?;
                }
            }
            // A value is complete: close what it completes, then expect the next one.
            while let Some(&in_object) = open.last() {
                if !self.comma_or(if in_object { b'}' } else { b']' })? {
                    if in_object {
                        self.key()?;
                    }
                    break;
                }
                open.pop();
            }
            if open.is_empty() {
                return Ok(());
            }
        }
    }

    /// A string, number, `true`, `false` or `null`. `keep`: the number will be read, so it must
    /// be one serde_json can hold.
    fn scalar(&mut self, keep: bool) -> Result<Json<'a>, JsonError> {
        match self.peek() {
            Some(b'"') => self.string().map(Json::String),
            Some(b'-' | b'0'..=b'9') => self.number(keep).map(Json::Number),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            _ => Err(self.syntax()),
        }
    }

    /// A key and its colon.
    fn key(&mut self) -> Result<JsonStr<'a>, JsonError> {
        if self.peek() != Some(b'"') {
            return Err(self.syntax());
        }
        let key = self.string()?;
        self.eat(b':')?;
        Ok(key)
    }

    /// After a value in a container: `,` (false: more follows) or `close` (true: done).
    fn comma_or(&mut self, close: u8) -> Result<bool, JsonError> {
        match self.peek() {
            Some(b',') => {
                self.at += 1;
                Ok(false)
            }
            Some(b) if b == close => {
                self.at += 1;
                Ok(true)
            }
            _ => Err(self.syntax()),
        }
    }

    fn eat(&mut self, byte: u8) -> Result<(), JsonError> {
        if self.peek() != Some(byte) {
            return Err(self.syntax());
        }
        self.at += 1;
        Ok(())
    }

    fn literal(&mut self, word: &str, value: Json<'a>) -> Result<Json<'a>, JsonError> {
        if !self.text[self.at..].starts_with(word) {
            return Err(self.syntax());
        }
        self.at += word.len();
        Ok(value)
    }

    /// The string at the opening quote: control characters refused, escapes checked.
    ///
    /// Inlined, so that `scalar` and `key` get the string in registers: returned through memory,
    /// it was copied on at once (into a `Json::String`), and the copy stalled waiting for the
    /// stores just made (store forwarding). Forcing `scalar` and `key` inline as well saves a
    /// little more time but costs 0.8 KB of the producer's gzip budget.
    #[inline(always)]
    fn string(&mut self) -> Result<JsonStr<'a>, JsonError> {
        let bytes = self.text.as_bytes();
        let start = self.at + 1;
        let mut i = start;
        let mut escaped = false;
        loop {
            i = plain_run_end(bytes, i);
            match bytes.get(i) {
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    i += match bytes.get(i + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => 2,
                        Some(b'u') if hex4(bytes, i + 2).is_some() => 6,
                        _ => return Err(JsonError::Syntax { at: i }),
                    };
                }
                // A control character, or the end of the text.
                _ => return Err(JsonError::Syntax { at: i }),
            }
        }
        self.at = i + 1;
        Ok(JsonStr {
            raw: &self.text[start..i],
            escaped,
        })
    }

    /// A number token (RFC 8259 grammar). `keep`: also one serde_json reads (not `1e999`).
    fn number(&mut self, keep: bool) -> Result<&'a str, JsonError> {
        let bytes = self.text.as_bytes();
        let start = self.at;
        let digits = |mut i: usize| {
            let from = i;
            while bytes.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            (i > from).then_some(i)
        };
        let mut i = start + usize::from(bytes[start] == b'-');
        i = match bytes.get(i) {
            Some(b'0') => i + 1,
            _ => digits(i).ok_or(JsonError::Syntax { at: i })?,
        };
        if bytes.get(i) == Some(&b'.') {
            i = digits(i + 1).ok_or(JsonError::Syntax { at: i + 1 })?;
        }
        if matches!(bytes.get(i), Some(b'e' | b'E')) {
            i += 1 + usize::from(matches!(bytes.get(i + 1), Some(b'+' | b'-')));
            i = digits(i).ok_or(JsonError::Syntax { at: i })?;
        }
        let token = &self.text[start..i];
        if keep && plain_integer(token).is_none() && number_text(token).is_none() {
            return Err(JsonError::Syntax { at: start });
        }
        self.at = i;
        Ok(token)
    }

    fn syntax(&self) -> JsonError {
        JsonError::Syntax { at: self.at }
    }

    fn skip_ws(&mut self) {
        let bytes = self.text.as_bytes();
        while matches!(bytes.get(self.at), Some(b' ' | b'\n' | b'\t' | b'\r')) {
            self.at += 1;
        }
    }
}

/// The first byte at or after `i` that ends a run of plain string text: `"`, `\\` or a control
/// character (or the end). Eight bytes at a time: string text is most of a webhook's bytes.
fn plain_run_end(bytes: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let x = u64::from_le_bytes([
            chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
        ]);
        let quote = x ^ (ONES * u64::from(b'"'));
        let backslash = x ^ (ONES * u64::from(b'\\'));
        // The high bit of each byte below 0x20 (or equal to the xor'ed byte): exact for the
        // lowest such byte, which is the one wanted.
        let below = |v: u64, n: u64| v.wrapping_sub(ONES * n) & !v;
        let found = (below(x, 0x20) | below(quote, 1) | below(backslash, 1)) & HIGH;
        if found != 0 {
            return i + (found.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while bytes
        .get(i)
        .is_some_and(|&b| b >= 0x20 && b != b'"' && b != b'\\')
    {
        i += 1;
    }
    i
}

/// The value of 4 hex digits at `at`.
fn hex4(bytes: &[u8], at: usize) -> Option<u16> {
    let digits = bytes.get(at..at + 4)?;
    digits.iter().try_fold(0u16, |n, &b| {
        let d = (b as char).to_digit(16)?;
        Some(n << 4 | d as u16)
    })
}

/// A token serde_json reads as an integer and writes back unchanged: no sign of `-0`, no
/// fraction or exponent, and few enough digits to fit any integer type. Most numbers in a
/// webhook are such; they need no conversion at all.
pub fn plain_integer(token: &str) -> Option<&str> {
    let digits = token.strip_prefix('-').unwrap_or(token);
    let plain = !digits.is_empty()
        && digits.len() <= 18
        && digits.bytes().all(|b| b.is_ascii_digit())
        && token != "-0";
    plain.then_some(token)
}

/// A number token as serde_json writes it (`1E2` → `100.0`), or `None` when serde_json cannot
/// read it (`1e999`).
pub fn number_text(token: &str) -> Option<Cow<'_, str>> {
    if let Some(plain) = plain_integer(token) {
        return Some(Cow::Borrowed(plain));
    }
    let number: serde_json::Number = serde_json::from_str(token).ok()?;
    Some(Cow::Owned(number.to_string()))
}

/// The text of a string with escapes (already checked by the parser). A UTF-16 surrogate
/// without its other half becomes U+FFFD.
fn unescape(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let (mut i, mut copied) = (0, 0);
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        out.push_str(&raw[copied..i]);
        let (c, len) = match bytes[i + 1] {
            b'b' => ('\u{8}', 2),
            b'f' => ('\u{c}', 2),
            b'n' => ('\n', 2),
            b'r' => ('\r', 2),
            b't' => ('\t', 2),
            b'u' => unicode_escape(bytes, i),
            other => (other as char, 2),
        };
        out.push(c);
        i += len;
        copied = i;
    }
    out.push_str(&raw[copied..]);
    out
}

/// The character of the `\uXXXX` escape at `at` (with its low half, for a pair), and the
/// escape's length.
fn unicode_escape(bytes: &[u8], at: usize) -> (char, usize) {
    let unit = hex4(bytes, at + 2).unwrap_or(0xFFFD);
    if let 0xD800..=0xDBFF = unit {
        let low = (bytes.get(at + 6..at + 8) == Some(b"\\u"))
            .then(|| hex4(bytes, at + 8))
            .flatten()
            .filter(|low| (0xDC00..=0xDFFF).contains(low));
        if let Some(low) = low {
            let c = 0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00);
            return (char::from_u32(c).unwrap_or('\u{FFFD}'), 12);
        }
    }
    (char::from_u32(u32::from(unit)).unwrap_or('\u{FFFD}'), 6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn tree(text: &str) -> Result<Json<'_>, JsonError> {
        let mut p = Parser::new(text);
        let v = p.value(MAX_LEVELS)?;
        p.end()?;
        Ok(v)
    }

    fn skip(text: &str) -> Result<(), JsonError> {
        let mut p = Parser::new(text);
        p.skip_value()?;
        p.end()
    }

    /// The tree as serde_json's `Value` (numbers through serde_json, last repeated key wins).
    fn to_value(v: &Json) -> Value {
        match v {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(t) => serde_json::from_str(t).unwrap(),
            Json::String(s) => Value::String(s.text().into_owned()),
            Json::Array(items) => Value::Array(items.iter().map(to_value).collect()),
            Json::Object(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.text().into_owned(), to_value(v)))
                    .collect(),
            ),
        }
    }

    #[test]
    fn reads_what_serde_json_reads() {
        for text in [
            r#"{"b":1,"a":[{}],"c":{"x":null},"a":-2.5e3}"#,
            r#" [ true , false , null , "" , 0 , -0 , 1E2 , 0.5e-7 ] "#,
            r#""tab\t quote\" slash\/ back\\ \u00e9 \ud83d\udcc5 \u0001""#,
            "12345678901234567890123",
            "{}",
            "[]",
        ] {
            let ours = to_value(&tree(text).unwrap());
            assert_eq!(ours, serde_json::from_str::<Value>(text).unwrap(), "{text}");
            assert_eq!(skip(text), Ok(()), "{text}");
        }
    }

    #[test]
    fn refuses_what_serde_json_refuses() {
        for text in [
            "",
            " ",
            "{",
            "{\"a\"}",
            "{\"a\":1,}",
            "[1,]",
            "[1 2]",
            "01",
            "-",
            "1.",
            "1e",
            ".5",
            "+1",
            "tru",
            "nulll",
            "\"\\x\"",
            "\"\\u12g4\"",
            "\"a\nb\"",
            "{a:1}",
            "[1]]",
            "'s'",
            "\u{feff}{}",
        ] {
            assert!(serde_json::from_str::<Value>(text).is_err(), "{text:?}");
            assert!(
                matches!(tree(text), Err(JsonError::Syntax { .. })),
                "{text:?}"
            );
            assert!(skip(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn a_number_serde_json_cannot_hold_is_refused_only_where_it_is_kept() {
        assert!(tree("1e999").is_err());
        assert!(tree("[-1e400]").is_err());
        assert_eq!(skip("{\"x\":[1e999]}"), Ok(()));
        assert_eq!(tree("1e-999").unwrap(), Json::Number("1e-999"));
    }

    fn check(text: &str, levels: usize) -> Result<(), JsonError> {
        let mut p = Parser::new(text);
        p.check_value(levels)?;
        p.end()
    }

    /// `check_value` accepts what `value` reads at the same depth, and nothing else.
    #[test]
    fn a_checked_value_is_one_that_reads_into_a_tree() {
        let nested = |n: usize| format!("{}1{}", "{\"a\":[".repeat(n), "]}".repeat(n));
        for text in [
            nested(MAX_LEVELS / 2),
            nested(MAX_LEVELS / 2 + 1),
            "1e999".into(),
            "{\"x\":[1e-999,1e308,-0]}".into(),
            "{\"x\":1,\"x\":\"\\ud83d\"}".into(),
            "[1,]".into(),
        ] {
            for levels in [0, 1, 3, MAX_LEVELS] {
                let mut p = Parser::new(&text);
                let read = p.value(levels).and_then(|_| p.end());
                assert_eq!(check(&text, levels), read, "{text:?} at {levels}");
            }
        }
    }

    #[test]
    fn nesting_is_limited_where_kept_and_free_where_skipped() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(tree(&nested(MAX_LEVELS)).is_ok());
        assert_eq!(tree(&nested(MAX_LEVELS + 1)), Err(JsonError::TooDeep));
        assert!(serde_json::from_str::<Value>(&nested(MAX_LEVELS)).is_ok());
        assert!(serde_json::from_str::<Value>(&nested(MAX_LEVELS + 1)).is_err());
        let objects = format!("{}1{}", "{\"a\":".repeat(50_000), "}".repeat(50_000));
        assert_eq!(skip(&objects), Ok(()));
        assert_eq!(skip(&nested(50_000)), Ok(()));
        assert!(skip(&nested(50_000)[1..]).is_err());
    }

    #[test]
    fn lookups_take_the_last_repeated_key() {
        let v = tree(r#"{"x":1,"y":{"z":true},"x":"two","k\u0065y":null}"#).unwrap();
        assert_eq!(
            v.get("x"),
            &Json::String(JsonStr {
                raw: "two",
                escaped: false
            })
        );
        assert_eq!(v.get("y").get("z").as_bool(), Some(true));
        assert!(v.get("missing").is_null());
        assert!(v.has_key("key"));
        assert_eq!(v.entries().len(), 4);
        assert!(Json::Null.get("x").is_null());
    }

    #[test]
    fn number_text_is_serde_jsons() {
        for token in [
            "0",
            "-7",
            "1.0",
            "1E2",
            "-0",
            "1e21",
            "0.1",
            "123456789012345678901",
        ] {
            let value: Value = serde_json::from_str(token).unwrap();
            assert_eq!(number_text(token).unwrap(), value.to_string(), "{token}");
        }
        assert_eq!(number_text("1e999"), None);
    }

    #[test]
    fn a_plain_run_ends_at_the_first_quote_backslash_or_control_character() {
        for text in [
            "",
            "abc",
            "0123456789abcdef",
            "é李🗓️ long text without stops, at all",
        ] {
            assert_eq!(plain_run_end(text.as_bytes(), 0), text.len(), "{text}");
        }
        let stops = ['"', '\\', '\n', '\u{0}', '\u{1f}'];
        for len in 0..20 {
            for stop in stops {
                for tail in ["", "\"", "abcdefghij\\", "\u{1}"] {
                    let text =
                        format!("{}{stop}{tail}", "é".repeat(len / 2) + &"x".repeat(len % 2));
                    let want = text.find(stop).unwrap();
                    assert_eq!(plain_run_end(text.as_bytes(), 0), want, "{text:?}");
                }
            }
        }
        // 0x7f and bytes of non-ASCII text are plain.
        assert_eq!(plain_run_end("\u{7f}\u{7f}é\"".as_bytes(), 0), 4);
    }

    #[test]
    fn an_unpaired_surrogate_reads_as_the_replacement_character() {
        let v = tree(r#"["\ud83d", "\udcc5x", "\ud83d\u0041"]"#).unwrap();
        let texts: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|s| match s {
                Json::String(s) => s.text().into_owned(),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(texts, ["\u{FFFD}", "\u{FFFD}x", "\u{FFFD}A"]);
    }
}
