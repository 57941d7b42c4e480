//! `check --probe` for the upstreams with `auth`: one real token request each, with the
//! credentials and the trust the gateway would use, reported with the lifetime the answer gave
//! (never the token).

use std::time::Instant;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::upstream::{Upstream, client_tls};

/// One line per upstream with `auth` and how many failed; empty when none has `auth`.
pub async fn token_lines(config: &Config) -> (String, usize) {
    let metrics = Metrics::new();
    let (mut text, mut failed) = (String::new(), 0);
    for u in &config.upstreams {
        let Some(auth) = &u.auth else { continue };
        let what = match client_tls(u) {
            Err(e) => Err(e.to_string()),
            Ok(tls) => {
                let upstream = Upstream::new(u, tls, &metrics);
                let started = Instant::now();
                match upstream.fetch_token(auth).await {
                    Ok(answer) => Ok(format!(
                        "token lifetime {}s (asked {}s)  in {:.1} ms",
                        answer.lifetime.as_secs(),
                        auth.token_ttl.as_secs(),
                        started.elapsed().as_secs_f64() * 1e3
                    )),
                    Err(e) => Err(e.to_string()),
                }
            }
        };
        let (word, detail) = match what {
            Ok(d) => ("ok", d),
            Err(d) => {
                failed += 1;
                ("FAILED", d)
            }
        };
        let label = format!("{} auth", u.name);
        text.push_str(&format!(
            "  {label:<10} {word:<7}  POST {}  {detail}\n",
            auth.token_path
        ));
    }
    (text, failed)
}
