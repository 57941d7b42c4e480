//! Entry points for `cargo fuzz` (`fuzz/`) and for the corpus replay that `cargo test` runs:
//! one function per target, taking the fuzzer's bytes, calling the real code and checking what
//! must hold of its answer. A broken invariant panics with what was broken, which is what
//! libFuzzer reports as a crash. Compiled only under `cfg(test)` or the `fuzzing` feature.
//!
//! Inputs are text a human can write as a seed: `name: value` lines, some of them settings the
//! wrapper reads itself (`peer:`, `upstream:`, ...), the others request or response headers.
//! - `sign.rs`: [`sign_body`], the signing body rewrite;
//! - `forwarded.rs`: [`forwarded_headers`], hop-by-hop removal and X-Forwarded-*;
//! - `rewrite.rs`: [`response_rewrite`], Set-Cookie `Domain` and `Location`;
//! - `confine.rs`: [`request_confine`], method, Host and dot segments, then the route;
//! - `config.rs`: [`config_parse`], TOML text to a config or an error;
//! - `tests.rs`: the replay of `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`.

mod config;
mod confine;
mod forwarded;
mod rewrite;
mod sign;
#[cfg(test)]
mod tests;

use http::header::{HeaderMap, HeaderName, HeaderValue};

pub use config::config_parse;
pub use confine::request_confine;
pub use forwarded::forwarded_headers;
pub use rewrite::response_rewrite;
pub use sign::sign_body;

/// A wrapper: the fuzzer's bytes in, a panic when an invariant breaks.
pub type Target = fn(&[u8]);

/// Every target by its `fuzz/fuzz_targets/<name>.rs` name.
pub const TARGETS: [(&str, Target); 5] = [
    ("sign_body", sign_body),
    ("forwarded_headers", forwarded_headers),
    ("response_rewrite", response_rewrite),
    ("request_confine", request_confine),
    ("config_parse", config_parse),
];

/// An input read as `name: value` lines (`\n` or `\r\n`): the wrapper's own settings, by the
/// names it asked for, and every other line that is a valid header as a header, in order.
struct Lines {
    settings: Vec<(String, Vec<u8>)>,
    headers: HeaderMap,
}

impl Lines {
    fn parse(data: &[u8], setting_names: &[&str]) -> Self {
        let mut settings = Vec::new();
        let mut headers = HeaderMap::new();
        for line in data.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let name = line[..colon].trim_ascii();
            let value = line[colon + 1..].trim_ascii_start();
            let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
            if setting_names.contains(&lower.as_str()) {
                settings.push((lower, value.to_vec()));
            } else if let (Ok(n), Ok(v)) =
                (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
            {
                headers.append(n, v);
            }
        }
        Self { settings, headers }
    }

    /// The first value of setting `name`, when it is UTF-8.
    fn setting(&self, name: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
}
