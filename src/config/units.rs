//! Durations (`"500ms"`, `"5s"`, `"2m"`) and sizes (`"64KiB"`, `"1MiB"`, `"512"`).

use std::time::Duration;

/// Parses a duration such as `500ms`, `5s`, `2m`, `1h 30m`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    humantime::parse_duration(s.trim()).ok()
}

/// Parses a byte size: a whole number with an optional unit B, KiB, MiB, GiB (binary) or
/// KB, MB, GB (decimal). `64KiB` = 65536.
pub(crate) fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: usize = num.parse().ok()?;
    let mult: usize = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("fast"), None);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64KiB"), Some(65536));
        assert_eq!(parse_size("1MiB"), Some(1 << 20));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("10 KB"), Some(10_000));
        assert_eq!(parse_size("1.5MiB"), None);
        assert_eq!(parse_size("KiB"), None);
        assert_eq!(parse_size("99999999999999999999GiB"), None);
    }
}
