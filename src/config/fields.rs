//! Parsers for single values of the file (addresses, durations, sizes, counts, CIDRs, paths),
//! each turning a bad value into a `ConfigError` with its key and line.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use http::HeaderValue;
use ipnet::IpNet;

use super::raw::S;
use super::typed::parse_cidr;
use super::{ConfigError, ConfigErrorKind as K, Ctx, parse_duration, parse_size};

/// The value parsers, bound to one file.
pub(super) struct Fields<'c, 'a> {
    pub(crate) ctx: &'c Ctx<'a>,
}

pub(super) fn invalid(
    what: &'static str,
    value: &str,
    expected: impl Into<Cow<'static, str>>,
) -> K {
    K::Invalid {
        what,
        value: value.to_owned(),
        expected: expected.into(),
    }
}

impl Fields<'_, '_> {
    pub(super) fn err(&self, v: &S<impl Sized>, key: impl Into<String>, kind: K) -> ConfigError {
        self.ctx.err(v.span(), key, kind)
    }

    pub(super) fn addr(
        &self,
        v: &Option<S<String>>,
        key: &str,
    ) -> Result<Option<SocketAddr>, ConfigError> {
        v.as_ref()
            .map(|v| {
                v.get_ref().parse().map_err(|_| {
                    self.err(
                        v,
                        key,
                        invalid("address", v.get_ref(), "ip:port, e.g. 0.0.0.0:8443"),
                    )
                })
            })
            .transpose()
    }

    pub(super) fn duration(
        &self,
        v: &Option<S<String>>,
        key: &str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        match v {
            Some(v) => parse_duration(v.get_ref()).ok_or_else(|| {
                self.err(
                    v,
                    key,
                    invalid("duration", v.get_ref(), "e.g. 500ms, 5s, 2m"),
                )
            }),
            None => Ok(default),
        }
    }

    pub(super) fn size(
        &self,
        v: &Option<S<String>>,
        key: &str,
        default: usize,
    ) -> Result<usize, ConfigError> {
        match v {
            Some(v) => parse_size(v.get_ref())
                .filter(|&n| n > 0)
                .ok_or_else(|| self.err(v, key, invalid("size", v.get_ref(), "e.g. 64KiB, 1MiB"))),
            None => Ok(default),
        }
    }

    /// A whole number in `range`.
    pub(super) fn count(
        &self,
        v: &Option<S<i64>>,
        key: &str,
        range: std::ops::RangeInclusive<i64>,
        default: usize,
    ) -> Result<usize, ConfigError> {
        match v {
            Some(v) if !range.contains(v.get_ref()) => Err(self.err(
                v,
                key,
                invalid("count", &v.get_ref().to_string(), describe(&range)),
            )),
            Some(v) => Ok(*v.get_ref() as usize),
            None => Ok(default),
        }
    }

    pub(super) fn cidrs(&self, list: &[S<String>], key: &str) -> Result<Vec<IpNet>, ConfigError> {
        list.iter()
            .enumerate()
            .map(|(i, c)| {
                parse_cidr(c.get_ref()).ok_or_else(|| {
                    self.err(
                        c,
                        format!("{key}[{i}]"),
                        invalid("CIDR", c.get_ref(), "e.g. 10.0.0.0/8, 127.0.0.1, ::1/128"),
                    )
                })
            })
            .collect()
    }

    /// An absolute path without query or fragment.
    pub(super) fn path(
        &self,
        v: &Option<S<String>>,
        key: &str,
        default: &str,
    ) -> Result<String, ConfigError> {
        match v {
            Some(v) if v.get_ref().starts_with('/') && !v.get_ref().contains(['?', '#', ' ']) => {
                Ok(v.get_ref().clone())
            }
            Some(v) => Err(self.err(
                v,
                key,
                invalid(
                    "path",
                    v.get_ref(),
                    "an absolute path without query, e.g. /a/b",
                ),
            )),
            None => Ok(default.to_owned()),
        }
    }

    /// A DNS name, lower-cased, or an IP address in its canonical form (IPv6 with or without
    /// brackets, kept without): what `crate::confine` compares a request's host with.
    pub(super) fn hostname(&self, v: &S<String>, key: String) -> Result<String, ConfigError> {
        let name = v.get_ref().trim().to_ascii_lowercase();
        let unbracketed = name
            .strip_prefix('[')
            .and_then(|n| n.strip_suffix(']'))
            .filter(|n| n.contains(':'))
            .unwrap_or(&name);
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            Ok(ip.to_string())
        } else if is_dns_name(&name) {
            Ok(name)
        } else {
            Err(self.err(
                v,
                key,
                invalid("hostname", v.get_ref(), "a DNS name or an IP address"),
            ))
        }
    }
}

impl Fields<'_, '_> {
    /// A `Strict-Transport-Security` value: printable ASCII, `;`-separated directives, one of
    /// them `max-age=<seconds>` (RFC 6797 §6.1: without it browsers ignore the header).
    pub(super) fn hsts(&self, v: &S<String>, key: &str) -> Result<HeaderValue, ConfigError> {
        let text = v.get_ref().trim();
        let directives: Vec<&str> = text.split(';').map(str::trim).collect();
        let max_age = directives.iter().any(|d| {
            d.split_once('=').is_some_and(|(name, secs)| {
                let secs = secs.trim().trim_matches('"');
                name.trim().eq_ignore_ascii_case("max-age")
                    && !secs.is_empty()
                    && secs.bytes().all(|b| b.is_ascii_digit())
            })
        });
        let sane = text.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
            && directives.iter().all(|d| !d.is_empty());
        match HeaderValue::from_str(text) {
            Ok(value) if sane && max_age => Ok(value),
            _ => Err(self.err(
                v,
                key,
                invalid(
                    "Strict-Transport-Security value",
                    v.get_ref(),
                    "with max-age=<seconds>, e.g. \"max-age=31536000; includeSubDomains\"",
                ),
            )),
        }
    }
}

/// What a count must be, for the error: "a positive number", "zero or more", "1 to 1024".
fn describe(range: &std::ops::RangeInclusive<i64>) -> Cow<'static, str> {
    match (*range.start(), *range.end()) {
        (0, i64::MAX) => "zero or more".into(),
        (1, i64::MAX) => "a positive number".into(),
        (lo, i64::MAX) => format!("{lo} or more").into(),
        (lo, hi) => format!("{lo} to {hi}").into(),
    }
}

/// `20/s`, `600/m`, `3600/h` → per second.
pub(super) fn parse_rate(s: &str) -> Option<f64> {
    let (n, per) = s.trim().split_once('/')?;
    let n: f64 = n
        .trim()
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n > 0.0)?;
    let secs = match per.trim() {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return None,
    };
    Some(n / secs)
}

fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}
