//! The configuration parser: the fuzzer's bytes are the TOML file.
//!
//! Checked: a refused file gives an error that renders (`Display`, `Debug`, its sources) with
//! the file's name and a line inside the file; an accepted one holds what the rest of the
//! gateway takes for granted (hostnames that `confine` can match, route prefixes that start
//! and end with `/` and name an upstream, upstream authorities that make a `Host` and a URI).
//! Neither ever shows a secret that the environment gave and the file did not contain.
//!
//! Environment variables: a name with `MISSING` is unset, one with `BAD` holds an invalid
//! secret, any other a secret valid for every use. A file whose `*_file` key names an absolute
//! path is skipped (the fuzzer must not read `/dev/zero`); relative ones resolve in a directory
//! that does not exist.

use std::error::Error as _;
use std::path::Path;

use crate::config::{Config, ConfigError};

const FILE: &str = "/nonexistent-fuzz-dir/config.toml";
/// 40 letters and digits: a signing key, a token key and a mint key.
const GOOD_SECRET: &str = "FuzzSecretQ7w8e9r0t1y2u3i4o5p6a7s8d9f0gZ";
/// Not letters and digits only, and too short for a token or mint key.
const BAD_SECRET: &str = "Bad-Secret-Value-Fuzz-7Qx";

fn env(name: &str) -> Option<String> {
    if name.contains("MISSING") {
        None
    } else if name.contains("BAD") {
        Some(BAD_SECRET.to_owned())
    } else {
        Some(GOOD_SECRET.to_owned())
    }
}

/// Parses `data` as the configuration file and checks the outcome (see the module's doc).
pub fn config_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if reads_absolute_file(text) {
        return;
    }
    let rendered = match Config::parse(text, Path::new(FILE), &env) {
        Ok(config) => {
            check_config(&config);
            format!("{config:?}")
        }
        Err(e) => render(&e, text),
    };
    for secret in [GOOD_SECRET, BAD_SECRET] {
        for shown in [secret, &secret[..12]] {
            assert!(
                text.contains(shown) || !rendered.contains(shown),
                "a secret shows: {rendered}"
            );
        }
    }
}

fn render(e: &ConfigError, text: &str) -> String {
    let mut out = format!("{e}\n{e:?}");
    assert!(out.starts_with(FILE), "{out}");
    if let Some(line) = e.line {
        assert!(
            line >= 1 && line <= text.lines().count().max(1) + 1,
            "{out}"
        );
    }
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(&format!("\n{s}"));
        source = s.source();
    }
    out
}

/// What the rest of the gateway relies on without checking it again.
fn check_config(c: &Config) {
    assert!(!c.server.hostnames.is_empty(), "a hostname");
    for h in &c.server.hostnames {
        let authority = if h.contains(':') {
            format!("[{h}]")
        } else {
            h.clone()
        };
        assert_eq!(
            crate::confine::host_name(authority.as_bytes()).as_deref(),
            Some(h.as_str()),
            "hostname {h:?} as confine reads it"
        );
    }
    for r in &c.routes {
        assert!(
            r.prefix.starts_with('/') && r.prefix.ends_with('/'),
            "{r:?}"
        );
        assert!(r.upstream < c.upstreams.len(), "{r:?}");
    }
    for (i, r) in c.routes.iter().enumerate() {
        assert!(c.routes[..i].iter().all(|x| x.prefix != r.prefix), "{r:?}");
    }
    for u in &c.upstreams {
        let authority = u.origin.authority();
        assert!(http::HeaderValue::from_str(&authority).is_ok(), "{u:?}");
        let uri = http::Uri::builder()
            .scheme(u.origin.to_url().split("://").next().unwrap_or(""))
            .authority(authority.as_str())
            .path_and_query("/")
            .build();
        assert!(uri.is_ok(), "upstream {u:?} makes a URI");
    }
    if let Some(s) = &c.signing {
        assert!(s.path.starts_with('/') && s.max_body > 0, "{s:?}");
    }
}

/// Whether a `*_file` key (wherever it is, however its name is written) holds an absolute path.
fn reads_absolute_file(text: &str) -> bool {
    fn walk(v: &toml::Value) -> bool {
        match v {
            toml::Value::Table(t) => t.iter().any(|(k, v)| {
                (k.ends_with("_file") && v.as_str().is_some_and(|p| Path::new(p).is_absolute()))
                    || walk(v)
            }),
            toml::Value::Array(a) => a.iter().any(walk),
            _ => false,
        }
    }
    text.parse::<toml::Table>()
        .is_ok_and(|t| walk(&toml::Value::Table(t)))
}
