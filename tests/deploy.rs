//! CI checks of `deploy/`: the artifacts are validated by the tools that consume them and
//! checked against each other and against the gateway's own configuration parser.
//!
//! - the systemd unit: `systemd-analyze verify` (no warning allowed) and `systemd-analyze
//!   security --offline` (exposure at most 2.0), plus its hardening and credentials;
//! - every Kubernetes manifest: `kubernetes-validate --strict`, and the Deployment, Service,
//!   ConfigMap, Secret, HPA, PDB and NetworkPolicy fitting together;
//! - the Dockerfile, parsed by moby/buildkit's parser (PyPI `dockerfile`), and the compose file;
//! - every example configuration (systemd, container, the ConfigMap's) passes `cec-gateway check`.
//!
//! Tools come from `$CEC_CI_VENV` (exported by `.ci/run`), else `target/ci-venv`, else `PATH`.
//! A missing tool fails the test under `CI=true` and skips it with the reason otherwise.

use crate::support;

#[path = "deploy/docker.rs"]
mod docker;
#[path = "deploy/kubernetes.rs"]
mod kubernetes;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use cec_gateway::config::{Config, parse_duration};
use serde_json::Value;
use support::{TempDir, write};

const BIN: &str = env!("CARGO_BIN_EXE_cec-gateway");
const SECRET: &str = "abcDEF123456";
/// A Token mode key for the example configurations (at least 32 bytes).
const TOKEN_KEY: &str = "deploy-test-token-key-0123456789abcdef";

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// `Some(tool)`, or `None` after saying why the check is skipped; under CI a missing tool fails.
fn tool(found: Option<PathBuf>, what: &str) -> Option<PathBuf> {
    if found.is_none() {
        let why = format!("{what} not found (bash .ci/run installs it)");
        assert!(!in_ci(), "CI=true: {why}");
        // Straight to stderr, past the test harness's capture, so that a skip is always seen.
        let _ = writeln!(std::io::stderr(), "skipped: {why}");
    }
    found
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A program from the CI virtualenv: `$CEC_CI_VENV/bin`, `target/ci-venv/bin`, else PATH.
fn venv_bin(name: &str) -> Option<PathBuf> {
    let venv = match std::env::var_os("CEC_CI_VENV") {
        Some(v) => PathBuf::from(v),
        None => repo("target/ci-venv"),
    };
    let p = venv.join("bin").join(name);
    if p.is_file() { Some(p) } else { on_path(name) }
}

/// A Python that can `import yaml, dockerfile`.
fn python() -> Option<PathBuf> {
    let found = venv_bin("python3").filter(|py| {
        Command::new(py)
            .args(["-c", "import yaml, dockerfile"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    tool(found, "python3 with PyYAML and dockerfile")
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn utf8(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Every YAML document of `rel`, as JSON (PyYAML's safe loader).
fn yaml_docs(py: &Path, rel: &str) -> Vec<Value> {
    let code = "import json, sys, yaml\njson.dump(list(yaml.safe_load_all(open(sys.argv[1]))), sys.stdout)";
    let out = run(Command::new(py).args(["-c", code]).arg(repo(rel)));
    assert!(out.status.success(), "{rel}: {}", utf8(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn yaml_doc(py: &Path, rel: &str) -> Value {
    let mut docs = yaml_docs(py, rel);
    assert_eq!(docs.len(), 1, "{rel}: one document");
    docs.remove(0)
}

/// `text` with every `from` replaced by `to`, written as `config.toml` in a fresh directory
/// that also holds `secret_file` (relative to that directory) with a valid channel secret, and
/// beside it `cec_token_key` and `redis_password` for the configurations with Token mode and a
/// store.
struct TestConfig {
    dir: TempDir,
    path: PathBuf,
    text: String,
}

fn test_config(tag: &str, text: &str, replace: &[(&str, &str)], secret_file: &str) -> TestConfig {
    let dir = TempDir::new(tag);
    let mut text = text.to_owned();
    for (from, to) in replace {
        assert!(text.contains(from), "{tag}: the config mentions {from}");
        text = text.replace(from, &format!("{}/{to}", dir.0.display()));
    }
    let secret = dir.0.join(secret_file);
    std::fs::create_dir_all(secret.parent().unwrap()).unwrap();
    std::fs::write(&secret, SECRET).unwrap();
    let beside = secret.parent().unwrap();
    std::fs::write(beside.join("cec_token_key"), TOKEN_KEY).unwrap();
    std::fs::write(beside.join("redis_password"), "redis-deploy-test-password").unwrap();
    let path = write(&dir.0, "config.toml", &text);
    TestConfig { dir, path, text }
}

impl TestConfig {
    /// `cec-gateway check` on it: must exit 0 and say it is valid.
    fn check(&self) -> Config {
        let out = run(Command::new(BIN)
            .args(["check", "--config"])
            .arg(&self.path));
        assert!(
            out.status.success() && utf8(&out.stdout).contains("is valid"),
            "cec-gateway check failed on\n{}\n{}{}",
            self.text,
            utf8(&out.stdout),
            utf8(&out.stderr)
        );
        Config::load_with_env(&self.path, &|_| None).unwrap()
    }
}

/// `drain_delay = "5s"` of a config, commented out or not (the key may not exist yet).
fn planned_drain_delay(text: &str) -> Duration {
    text.lines()
        .map(|l| l.trim_start_matches(['#', ' ']))
        .find_map(|l| l.strip_prefix("drain_delay = \""))
        .and_then(|rest| parse_duration(rest.split('"').next()?))
        .expect("the config names a drain_delay, at least in a comment")
}

// --- systemd -----------------------------------------------------------------------------

const UNIT: &str = "deploy/systemd/cec-gateway.service";
const CREDENTIALS: &str = "/run/credentials/cec-gateway.service/";

/// `Key=value` pairs of the unit, in order (comments and section headers left out).
fn unit_entries() -> Vec<(String, String)> {
    read(UNIT)
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with('[') && !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("not Key=value: {l}"));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

fn unit_values(key: &str) -> Vec<String> {
    unit_entries()
        .into_iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v)
        .collect()
}

#[test]
fn systemd_unit_passes_systemd_analyze_verify_and_security() {
    let Some(analyze) = tool(
        on_path("systemd-analyze"),
        "systemd-analyze (Debian: systemd)",
    ) else {
        return;
    };
    // verify needs every Exec binary to exist: a copy of the unit runs the built one.
    let dir = TempDir::new("unit");
    let unit = write(
        &dir.0,
        "cec-gateway.service",
        &read(UNIT).replace("/usr/local/bin/cec-gateway", BIN),
    );
    let out = run(Command::new(&analyze)
        .args(["verify", "--man=no"])
        .arg(&unit)
        .env("SYSTEMD_LOG_LEVEL", "warning")
        .env("SYSTEMD_LOG_COLOR", "0"));
    assert!(
        out.status.success() && out.stderr.is_empty() && out.stdout.is_empty(),
        "systemd-analyze verify (no warning allowed):\n{}{}",
        utf8(&out.stdout),
        utf8(&out.stderr)
    );
    let out = run(Command::new(&analyze)
        .args(["security", "--offline=yes", "--threshold=20", "--no-pager"])
        .arg(&unit)
        .env("SYSTEMD_LOG_COLOR", "0"));
    let report = utf8(&out.stdout);
    assert!(
        out.status.success(),
        "exposure above 2.0:\n{report}{}",
        utf8(&out.stderr)
    );
    assert!(report.contains("Overall exposure level"), "{report}");
}

#[test]
fn systemd_unit_keeps_its_hardening_and_credentials_match_the_config() {
    for (key, want) in [
        ("DynamicUser", "yes"),
        ("ProtectSystem", "strict"),
        ("NoNewPrivileges", "yes"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("AmbientCapabilities", "CAP_NET_BIND_SERVICE"),
        ("CapabilityBoundingSet", "CAP_NET_BIND_SERVICE"),
        ("Restart", "on-failure"),
        ("KillSignal", "SIGTERM"),
    ] {
        assert_eq!(unit_values(key), vec![want.to_owned()], "{key}=");
    }
    let reload = unit_values("ExecReload");
    assert_eq!(
        reload.last().map(String::as_str),
        Some("/bin/kill -HUP $MAINPID")
    );
    // The same file everywhere: checked before start and reload, then run.
    let config_arg = "--config /etc/cec-gateway/config.toml";
    for v in unit_values("ExecStartPre")
        .iter()
        .chain(&unit_values("ExecStart"))
        .chain(&reload[..reload.len() - 1])
    {
        assert!(
            v.starts_with("/usr/local/bin/cec-gateway ") && v.ends_with(config_arg),
            "{v}"
        );
    }

    // Every credential the config reads is loaded, and every loaded one is read.
    let text = read("deploy/systemd/config.toml");
    let quoted = format!("\"{CREDENTIALS}");
    let mut used: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once(quoted.as_str()))
        .map(|(_, rest)| rest.split('"').next().unwrap())
        .collect();
    let mut loaded: Vec<String> = unit_values("LoadCredential")
        .iter()
        .map(|v| v.split(':').next().unwrap().to_owned())
        .collect();
    used.sort_unstable();
    loaded.sort_unstable();
    assert_eq!(
        used, loaded,
        "LoadCredential= ids vs the config's {CREDENTIALS} paths"
    );

    let cfg = test_config(
        "systemd",
        &text,
        &[(CREDENTIALS, "credentials/")],
        "credentials/cec_secret",
    );
    std::fs::write(cfg.dir.0.join("credentials/gateway.key"), "").unwrap();
    let config = cfg.check();
    let stop = parse_duration(&format!("{}s", unit_values("TimeoutStopSec")[0])).unwrap();
    assert!(
        stop > config.server.shutdown_grace + planned_drain_delay(&text),
        "TimeoutStopSec={stop:?} must exceed drain_delay + shutdown_grace"
    );
}
