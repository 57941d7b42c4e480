//! The demo in a real browser: Debian's Chromium, driven by `tests/browser/e2e.mjs`
//! (playwright-core), against `cec_gateway::demo::start` running in this process.
//!
//! Three runs prove the whole chain: the page served through the gateway (same origin) gets a
//! working chat; the page on another origin of the same site gets one too when CORS allows
//! it; and without that CORS entry the browser blocks it, with the CORS error in the console.
//! The gateway is browsed as `localhost` and the mock CEC is addressed as `127.0.0.1`, so the
//! `ccmessaging-token` cookie check tells the gateway's cookie from the CEC's.
//!
//! Needs `node`, `tests/browser/node_modules` (`npm ci --prefix tests/browser`) and Chromium
//! (`/usr/bin/chromium`, or `$CHROMIUM`). Without them the test fails when `CI` is set and
//! skips loudly otherwise. Screenshots: `<target dir>/browser-screenshots/*.png`.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use cec_gateway::demo::{self, DemoHandle, DemoOptions, PAGE_ORIGIN};
use tokio::sync::oneshot;

/// One browser run's deadline (the script's own waits are shorter).
const RUN_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the demo may take to stop.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

struct Tools {
    chromium: PathBuf,
}

/// What the browser test needs, or `None` (skip) when something is missing outside CI.
fn prerequisites() -> Option<Tools> {
    let chromium = std::env::var_os("CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    let mut missing = Vec::new();
    let node = std::process::Command::new("node").arg("--version").output();
    if !node.is_ok_and(|out| out.status.success()) {
        missing.push("node (apt-get install -y nodejs npm)".to_owned());
    }
    if !browser_dir()
        .join("node_modules/playwright-core/package.json")
        .is_file()
    {
        missing.push(
            "tests/browser/node_modules/playwright-core (npm ci --prefix tests/browser)".to_owned(),
        );
    }
    if !chromium.is_file() {
        missing.push(format!(
            "{} (apt-get install -y chromium, or set CHROMIUM)",
            chromium.display()
        ));
    }
    if missing.is_empty() {
        return Some(Tools { chromium });
    }
    let what = missing.join("\n  - ");
    if std::env::var_os("CI").is_some() {
        panic!("the browser test cannot run; missing:\n  - {what}");
    }
    // Straight to stderr, not through eprintln!: the test harness captures that for a passing test.
    let loud = format!(
        "\n{bar}\nSKIPPING the browser end-to-end test (CI is not set); missing:\n  - {what}\n{bar}\n",
        bar = "!".repeat(78)
    );
    if std::io::stderr().write_all(loud.as_bytes()).is_err() {
        // Nowhere left to complain to; the test still passes as skipped.
    }
    None
}

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// `<target dir>/browser-screenshots` (`CARGO_TARGET_TMPDIR` is `<target dir>/tmp`).
fn screenshot_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp.parent().unwrap_or(tmp).join("browser-screenshots");
    std::fs::create_dir_all(&dir).expect("can create the screenshot directory");
    dir
}

/// A demo on loopback ports chosen by the OS, with the cross-origin page, allowing `cors`.
async fn start_demo(name: &str, cors: Vec<String>) -> (DemoHandle, oneshot::Sender<()>) {
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let (stop, stopped) = oneshot::channel::<()>();
    let opts = DemoOptions {
        listen: any,
        state_dir: Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("browser-demo-{name}-{}", std::process::id())),
        page_listen: Some(any),
        cors_origins: cors,
    };
    let demo = demo::start(opts, async move {
        // Either a send or a dropped sender means: stop.
        drop(stopped.await);
    })
    .await
    .unwrap_or_else(|e| panic!("demo {name} starts: {e}"));
    assert!(
        demo.gateway_url.starts_with("https://localhost:"),
        "{}",
        demo.gateway_url
    );
    (demo, stop)
}

/// Runs `e2e.mjs` once; `Err` carries everything it printed.
async fn browse(
    tools: &Tools,
    url: &str,
    expect: &str,
    screenshot: &Path,
) -> Result<String, String> {
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(browser_dir().join("e2e.mjs"))
        .args(["--url", url, "--expect", expect])
        .arg("--screenshot")
        .arg(screenshot)
        .arg("--chromium")
        .arg(&tools.chromium)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = match tokio::time::timeout(RUN_TIMEOUT, cmd.output()).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => return Err(format!("cannot run node: {e}")),
        Err(_) => return Err(format!("e2e.mjs did not finish within {RUN_TIMEOUT:?}")),
    };
    let report = format!(
        "e2e.mjs --url {url} --expect {expect}: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    if out.status.success() {
        Ok(report)
    } else {
        Err(report)
    }
}

async fn stop_demo(demo: DemoHandle, stop: oneshot::Sender<()>) {
    // Err only if the demo already dropped its end: it is stopping anyway.
    if stop.send(()).is_err() {
        eprintln!("the demo's shutdown future was already gone");
    }
    match tokio::time::timeout(STOP_TIMEOUT, demo.wait()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("the demo ended with an error: {e}"),
        Err(_) => panic!("the demo did not stop within {STOP_TIMEOUT:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_widget_works_through_the_gateway_and_cors_decides_cross_origin() {
    let Some(tools) = prerequisites() else {
        return;
    };
    let shots = screenshot_dir();

    let (allowed, stop_allowed) = start_demo("allowed", vec![PAGE_ORIGIN.to_owned()]).await;
    let (closed, stop_closed) = start_demo("closed", Vec::new()).await;
    let page_allowed = allowed
        .page_url
        .clone()
        .expect("the demo serves the cross-origin page");
    let page_closed = closed
        .page_url
        .clone()
        .expect("the demo serves the cross-origin page");
    assert_eq!(allowed.cors_origins.len(), 1);
    assert!(
        page_allowed.starts_with(&allowed.cors_origins[0]),
        "{page_allowed}"
    );

    let same_origin = format!("{}/", allowed.gateway_url);
    let runs = [
        ("same-origin", same_origin.as_str(), "ok"),
        ("cross-origin-allowed", page_allowed.as_str(), "ok"),
        ("cross-origin-not-allowed", page_closed.as_str(), "blocked"),
    ];
    let mut failures = Vec::new();
    for (name, url, expect) in runs {
        let shot = shots.join(format!("{name}.png"));
        match browse(&tools, url, expect, &shot).await {
            Ok(report) => eprintln!("{name}: ok\n{report}\n"),
            Err(report) => failures.push(format!("{name}: FAILED\n{report}")),
        }
        if !shot.is_file() {
            failures.push(format!("{name}: no screenshot at {}", shot.display()));
        }
    }

    stop_demo(allowed, stop_allowed).await;
    stop_demo(closed, stop_closed).await;
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
