//! The store's line of `check --probe`.

use crate::config::Config;

/// `  store      ok       URL  PING 0.4 ms`, or `FAILED` with why; `None` without `[store]`.
/// The second value is `true` when the probe failed.
pub async fn store_line(config: &Config) -> Option<(String, bool)> {
    let cfg = config.store.as_ref()?;
    let (word, what) = match super::ping_once(cfg).await {
        Ok(rtt) => ("ok", format!("PING {:.1} ms", rtt.as_secs_f64() * 1e3)),
        Err(e) => ("FAILED", e.to_string()),
    };
    let line = format!("  {:<10} {word:<7}  {}  {what}", "store", cfg.url);
    Some((line, word == "FAILED"))
}
