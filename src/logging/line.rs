//! The access line's text, formatted by hand: one line per request makes `core::fmt`'s
//! per-argument machinery a measurable share of a request (callgrind: 8.6k of its 169k
//! instructions). The date and second are formatted once per second per thread, integers with
//! `itoa`; a `Debug` value is the one field still formatted by `core::fmt`.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::net::IpAddr;

use tracing::field::{Field, Visit};

/// Appends the UTC time as `2026-12-02T16:15:18.518489Z`.
pub(super) fn timestamp(out: &mut String) {
    thread_local! {
        /// The last second formatted on this thread, and its text up to the fraction.
        static SECOND: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
    }
    let now = time::OffsetDateTime::now_utc();
    SECOND.with_borrow_mut(|(at, text)| {
        if *at != now.unix_timestamp() {
            text.clear();
            let (y, mo, d) = (now.year(), now.month() as u8, now.day());
            let (h, mi, s) = (now.hour(), now.minute(), now.second());
            let _ = write!(text, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.");
            *at = now.unix_timestamp();
        }
        out.push_str(text);
    });
    digits(out, now.microsecond(), 6);
    out.push('Z');
}

/// The last `n` decimal digits of `value`, zero-padded.
fn digits(out: &mut String, value: u32, n: u32) {
    for place in (0..n).rev() {
        let digit = value / 10u32.pow(place) % 10;
        out.push(char::from(b'0' + digit as u8));
    }
}

/// `value` with three decimals, by integer arithmetic (float formatting with a precision is
/// slow, and every access line has one).
pub(super) fn fixed3(out: &mut String, value: f64) {
    if !value.is_finite() || value.abs() >= 1e15 {
        let _ = write!(out, "{value}");
        return;
    }
    let thousandths = (value.abs() * 1000.0).round() as u64;
    if value < 0.0 && thousandths > 0 {
        out.push('-');
    }
    out.push_str(itoa::Buffer::new().format(thousandths / 1000));
    out.push('.');
    digits(out, (thousandths % 1000) as u32, 3);
}

/// An address as text without an allocation for IPv4 (every access line has the peer's).
pub(crate) enum IpText {
    V4 { bytes: [u8; 15], len: usize },
    Other(String),
}

impl IpText {
    pub(crate) fn new(ip: IpAddr) -> Self {
        let IpAddr::V4(v4) = ip else {
            return IpText::Other(ip.to_string());
        };
        let (mut bytes, mut len) = ([0u8; 15], 0);
        for (i, octet) in v4.octets().into_iter().enumerate() {
            if i > 0 {
                bytes[len] = b'.';
                len += 1;
            }
            let mut digits = itoa::Buffer::new();
            let text = digits.format(octet).as_bytes();
            bytes[len..len + text.len()].copy_from_slice(text);
            len += text.len();
        }
        IpText::V4 { bytes, len }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            // Only ASCII digits and dots were written.
            IpText::V4 { bytes, len } => std::str::from_utf8(&bytes[..*len]).unwrap_or_default(),
            IpText::Other(s) => s,
        }
    }
}

/// How one format writes a key and each kind of value; the visitor ([`Fields`]) is shared.
pub(super) trait Style {
    fn out(&mut self) -> &mut String;
    fn key(&mut self, field: &Field);
    fn string(&mut self, s: &str);
    fn float(&mut self, value: f64);
    fn debug(&mut self, value: &dyn std::fmt::Debug);
}

/// An event's fields, written in a [`Style`].
pub(super) struct Fields<S>(pub(super) S);

impl<S: Style> Visit for Fields<S> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.key(field);
        self.0.string(value);
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.key(field);
        self.0.out().push_str(itoa::Buffer::new().format(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.key(field);
        self.0.out().push_str(itoa::Buffer::new().format(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.key(field);
        self.0.float(value);
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.key(field);
        self.0.out().push_str(if value { "true" } else { "false" });
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.key(field);
        self.0.debug(value);
    }
}

/// ` key=value` pairs.
pub(super) struct Human<'a>(pub(super) &'a mut String);

impl Style for Human<'_> {
    fn out(&mut self) -> &mut String {
        self.0
    }
    fn key(&mut self, field: &Field) {
        self.0.push(' ');
        self.0.push_str(field.name());
        self.0.push('=');
    }
    fn string(&mut self, s: &str) {
        self.0.push_str(s);
    }
    fn float(&mut self, value: f64) {
        fixed3(self.0, value);
    }
    fn debug(&mut self, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{value:?}");
    }
}

/// `,"key":value` members; strings JSON-escaped.
pub(super) struct Json<'a>(pub(super) &'a mut String);

impl Style for Json<'_> {
    fn out(&mut self) -> &mut String {
        self.0
    }
    fn key(&mut self, field: &Field) {
        self.0.push_str(",\"");
        self.0.push_str(field.name());
        self.0.push_str("\":");
    }
    fn string(&mut self, s: &str) {
        // serde_json's escaping, without an intermediate allocation for the common case.
        if s.bytes()
            .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b < 0x7f)
        {
            self.0.push('"');
            self.0.push_str(s);
            self.0.push('"');
        } else {
            self.0.push_str(&serde_json::Value::from(s).to_string());
        }
    }
    fn float(&mut self, value: f64) {
        if value.is_finite() {
            fixed3(self.0, value);
        } else {
            self.0.push_str("null");
        }
    }
    fn debug(&mut self, value: &dyn std::fmt::Debug) {
        self.string(&format!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_decimals() {
        for (v, want) in [
            (0.0, "0.000"),
            (1.23456, "1.235"),
            (12.0, "12.000"),
            (-0.5, "-0.500"),
            (0.0004, "0.000"),
            (-0.0004, "0.000"),
            (1234.0015, "1234.002"),
            (0.05, "0.050"),
        ] {
            let mut s = String::new();
            fixed3(&mut s, v);
            assert_eq!(s, want, "{v}");
        }
    }

    #[test]
    fn addresses_as_display_writes_them() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "255.255.255.255",
            "10.20.3.4",
            "::1",
            "2001:db8::7",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(IpText::new(ip).as_str(), ip.to_string());
        }
    }

    #[test]
    fn timestamps_in_utc_with_microseconds() {
        let second =
            time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].");
        let before = time::OffsetDateTime::now_utc();
        let mut s = String::new();
        timestamp(&mut s);
        timestamp(&mut s); // the second one from the cached second, or a new one
        let after = time::OffsetDateTime::now_utc();
        assert_eq!(s.len(), 2 * 27, "{s}");
        let seconds = [
            before.format(second).unwrap(),
            after.format(second).unwrap(),
        ];
        for one in [&s[..27], &s[27..]] {
            assert!(
                seconds.iter().any(|p| one.starts_with(p.as_str())),
                "{one} in {seconds:?}"
            );
            assert!(
                one[20..26].bytes().all(|b| b.is_ascii_digit()) && one.ends_with('Z'),
                "{one}"
            );
        }
        let us = |t: &str| t[20..26].parse::<u32>().unwrap();
        if s[..20] == s[27..47] {
            assert!(us(&s[..27]) <= us(&s[27..]), "{s}");
        }
    }
}
