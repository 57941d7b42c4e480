//! The probe's text: one line per upstream and a closing count, from typed [`Probe`]s, with no
//! I/O (the clock comes in as `now`).

use std::fmt::Write;
use std::time::{Duration, SystemTime};

use time::OffsetDateTime;

use super::{Leaf, Probe, Verdict};

/// One line for one probe (no trailing newline):
/// `  NAME  ok|warning|FAILED  URL  addresses A, B  ...details or the failure`.
pub(super) fn line(p: &Probe, now: OffsetDateTime) -> String {
    let verdict = p.verdict(now);
    let word = match verdict {
        Verdict::Ok => "ok",
        Verdict::ExpiresSoon { .. } => "warning",
        Verdict::Failed => "FAILED",
    };
    let mut s = format!("  {:<10} {:<7}  {}", p.upstream, word, p.url);
    if !p.addresses.is_empty() {
        let _ = write!(s, "  addresses {}", join(&p.addresses));
    }
    match &p.outcome {
        Err(f) => {
            let _ = write!(s, "  {f}");
        }
        Ok(r) => {
            let _ = write!(s, "  connected {}", r.peer);
            match &r.tls {
                None => {
                    let _ = write!(s, "  plain HTTP  connect {}", millis(r.connect));
                }
                Some(t) => {
                    let _ = write!(s, "  {}{}", t.version, leaf_text(t.leaf.as_ref()));
                    let _ = write!(s, "  handshake {}", millis(t.handshake));
                }
            }
            if let Verdict::ExpiresSoon { days } = verdict {
                let _ = write!(s, "  expires in {days} days");
            }
        }
    }
    s
}

/// The probe section of `check --probe`, and how many upstreams failed.
pub fn report(probes: &[Probe], now: SystemTime) -> (String, usize) {
    let now = OffsetDateTime::from(now);
    let mut out = format!("probe ({} upstreams):\n", probes.len());
    let (mut warned, mut failed) = (0, 0);
    for p in probes {
        match p.verdict(now) {
            Verdict::Ok => {}
            Verdict::ExpiresSoon { .. } => warned += 1,
            Verdict::Failed => failed += 1,
        }
        out.push_str(&line(p, now));
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "probe: {} ok, {warned} warning, {failed} failed",
        probes.len() - warned - failed
    );
    (out, failed)
}

pub(super) fn leaf_text(leaf: Option<&Leaf>) -> String {
    match leaf {
        None => String::new(),
        Some(l) => format!(
            "  subject {}  issuer {}  not after {}",
            l.subject,
            l.issuer,
            rfc3339(l.not_after)
        ),
    }
}

/// `2026-12-01T08:30:00Z`.
fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .unwrap_or_else(|_| t.to_string())
}

/// `3.2ms`, with integer arithmetic.
pub(super) fn millis(d: Duration) -> String {
    let us = d.as_micros();
    format!("{}.{}ms", us / 1000, (us % 1000) / 100)
}

pub(super) fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
