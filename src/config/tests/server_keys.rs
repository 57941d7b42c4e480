//! The operations keys of `[server]`: `proxy_protocol`, `drain_delay`, `watch_config`, `hsts`,
//! and how `hostnames` are kept. Each:
//! its default, set values, and every way to get it wrong (with file, line and key).

use std::time::Duration;

use super::{BASE, err, parse};
use crate::config::{DEFAULT_DRAIN_DELAY, DEFAULT_PROXY_PROTOCOL, DEFAULT_WATCH_CONFIG};

/// BASE with `lines` first in `[server]` (so the first of them is on line 3) and `tail`
/// appended at the end (e.g. a `[forwarding]` table).
fn config(lines: &str, tail: &str) -> String {
    BASE.replacen("[server]", &format!("[server]\n{lines}"), 1) + tail
}

const TRUSTED: &str = "\n[forwarding]\ntrusted_proxies = [\"10.0.0.0/8\"]\n";

#[test]
fn absent_they_take_their_defaults() {
    let s = parse(BASE).unwrap().server;
    assert!(!s.proxy_protocol);
    assert_eq!(s.proxy_protocol, DEFAULT_PROXY_PROTOCOL);
    assert_eq!(s.drain_delay, Duration::ZERO);
    assert_eq!(s.drain_delay, DEFAULT_DRAIN_DELAY);
    assert!(!s.watch_config);
    assert_eq!(s.watch_config, DEFAULT_WATCH_CONFIG);
}

#[test]
fn set_values_come_out_typed() {
    // (server lines, tail, proxy_protocol, drain_delay, watch_config)
    let cases: &[(&str, &str, bool, Duration, bool)] = &[
        (
            "proxy_protocol = true",
            TRUSTED,
            true,
            Duration::ZERO,
            false,
        ),
        ("proxy_protocol = false", "", false, Duration::ZERO, false),
        (
            "proxy_protocol = true",
            "\n[forwarding]\ntrusted_proxies = [\"127.0.0.1\"]\n",
            true,
            Duration::ZERO,
            false,
        ),
        (
            "drain_delay = \"5s\"",
            "",
            false,
            Duration::from_secs(5),
            false,
        ),
        (
            "drain_delay = \"1500ms\"",
            "",
            false,
            Duration::from_millis(1500),
            false,
        ),
        ("drain_delay = \"0s\"", "", false, Duration::ZERO, false),
        ("watch_config = true", "", false, Duration::ZERO, true),
        ("watch_config = false", "", false, Duration::ZERO, false),
        (
            "proxy_protocol = true\ndrain_delay = \"10s\"\nwatch_config = true",
            TRUSTED,
            true,
            Duration::from_secs(10),
            true,
        ),
    ];
    for (lines, tail, proxy, drain, watch) in cases {
        let s = parse(&config(lines, tail))
            .unwrap_or_else(|e| panic!("{lines}: {e}"))
            .server;
        assert_eq!(
            (s.proxy_protocol, s.drain_delay, s.watch_config),
            (*proxy, *drain, *watch),
            "{lines}"
        );
    }
}

#[test]
fn proxy_protocol_without_trusted_proxies_is_refused_at_its_line() {
    let want = "/etc/cec/config.toml:3: server.proxy_protocol: needs \
                forwarding.trusted_proxies: a PROXY header is accepted only from those peers, \
                and none is listed";
    for tail in ["", "\n[forwarding]\ntrusted_proxies = []\n"] {
        assert_eq!(
            err(&config("proxy_protocol = true", tail)),
            want,
            "{tail:?}"
        );
    }
    // Later in the table, the line follows the key.
    let e = err(&config("max_connections = 5\nproxy_protocol = true", ""));
    assert!(
        e.starts_with("/etc/cec/config.toml:4: server.proxy_protocol: needs"),
        "{e}"
    );
    // A bad CIDR is reported as such, not as "none listed".
    let e = err(&config(
        "proxy_protocol = true",
        "\n[forwarding]\ntrusted_proxies = [\"10.0.0.0/33\"]\n",
    ));
    assert!(e.contains("forwarding.trusted_proxies[0]: CIDR"), "{e}");
}

#[test]
fn invalid_values_name_the_file_line_and_key() {
    // (server line, expected message part): the key is always on line 3.
    let cases = [
        (
            "proxy_protocol = \"yes\"",
            "server.proxy_protocol: invalid type: string \"yes\"",
        ),
        (
            "proxy_protocol = 1",
            "server.proxy_protocol: invalid type: integer `1`",
        ),
        (
            "drain_delay = \"soon\"",
            "server.drain_delay: duration: \"soon\" (e.g. 500ms, 5s, 2m)",
        ),
        ("drain_delay = \"5\"", "server.drain_delay: duration: \"5\""),
        (
            "drain_delay = \"-1s\"",
            "server.drain_delay: duration: \"-1s\"",
        ),
        (
            "drain_delay = 5",
            "server.drain_delay: invalid type: integer `5`",
        ),
        (
            "watch_config = \"yes\"",
            "server.watch_config: invalid type: string \"yes\"",
        ),
        (
            "watch_config = 0",
            "server.watch_config: invalid type: integer `0`",
        ),
        (
            "watch_configs = true",
            "server.watch_configs: unknown field `watch_configs`",
        ),
    ];
    for (line, want) in cases {
        let e = err(&config(line, TRUSTED));
        assert!(
            e.starts_with("/etc/cec/config.toml:3: ") && e.contains(want),
            "{line}: got {e:?}, want {want:?}"
        );
    }
}

#[test]
fn ip_hostnames_are_kept_in_canonical_form() {
    let s = parse(&BASE.replace(
        r#"hostnames = ["localhost", "127.0.0.1"]"#,
        r#"hostnames = ["Chat.Example.COM", "127.0.0.1", "[::1]", "0:0:0:0:0:0:0:2"]"#,
    ))
    .unwrap()
    .server;
    assert_eq!(s.hostnames, ["chat.example.com", "127.0.0.1", "::1", "::2"]);
    let e = err(&BASE.replace(
        r#"hostnames = ["localhost", "127.0.0.1"]"#,
        r#"hostnames = ["[localhost]"]"#,
    ));
    assert!(e.contains(":4: server.hostnames[0]: hostname"), "{e}");
}

#[test]
fn hsts_is_off_by_default_and_a_sane_value_when_set() {
    assert_eq!(parse(BASE).unwrap().server.hsts, None);
    assert_eq!(crate::config::DEFAULT_HSTS, None);
    for value in [
        "max-age=31536000",
        "max-age=31536000; includeSubDomains",
        "max-age=63072000; includeSubDomains; preload",
        "includeSubDomains; Max-Age=\"600\"",
        "max-age=0",
    ] {
        let s = parse(&config(&format!("hsts = {value:?}"), ""))
            .unwrap_or_else(|e| panic!("{value}: {e}"))
            .server;
        assert_eq!(s.hsts.unwrap(), value, "{value}");
    }
    for value in [
        "",
        " ",
        "includeSubDomains",
        "max-age=",
        "max-age=soon",
        "max-age=-1",
        "max-age=600;;preload",
        "max-age=600\r\nSet-Cookie: a=b",
        "max-age=600; é",
    ] {
        let e = err(&config(&format!("hsts = {value:?}"), ""));
        assert!(
            e.starts_with("/etc/cec/config.toml:3: server.hsts: Strict-Transport-Security value: ")
                && e.contains("max-age=<seconds>"),
            "{value:?}: {e}"
        );
    }
    let e = err(&config("hsts = 31536000", ""));
    assert!(
        e.starts_with("/etc/cec/config.toml:3: server.hsts: invalid type: integer"),
        "{e}"
    );
}
