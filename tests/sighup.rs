//! The binary's reload: SIGHUP (what `systemctl reload` and logrotate send) re-reads the
//! configuration file instead of ending the process; a broken file is refused with its file,
//! line and key in the log while the old configuration keeps serving; with
//! `server.watch_config` a change of the file alone reloads it.

use crate::support;

use std::path::PathBuf;

use http::StatusCode;
use support::*;

fn config_file(dir: &TempDir, text: &str) -> PathBuf {
    write(
        &dir.0,
        "gateway.toml",
        &text.replace("@DIR@", dir.0.to_str().unwrap()),
    )
}

fn with_route(base: &str, prefix: &str) -> String {
    format!("{base}\n[[routes]]\nprefix = \"{prefix}\"\nupstream = \"cec\"\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_and_a_broken_file_is_refused_while_the_old_one_serves() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let dir = TempDir::new("sighup");
    write_tls_files(&ca, &dir);
    let base = base_config(&up.url());
    let path = config_file(&dir, &base);
    let mut gw = Process::start(&path);
    let c = client(&ca, false);
    assert_eq!(
        get(&c, &gw.url("/added/x")).await.status,
        StatusCode::NOT_FOUND
    );

    config_file(&dir, &with_route(&base, "/added/"));
    gw.signal("-HUP");
    let reloading = gw.wait_for("reloading the configuration");
    assert_eq!(reloading["trigger"], "SIGHUP");
    gw.wait_for("configuration reloaded");
    assert_eq!(get(&c, &gw.url("/added/x")).await.status, StatusCode::OK);

    config_file(
        &dir,
        &with_route(&base, "/added/").replace("upstream = \"cec\"\n", "upstream = \"nope\"\n"),
    );
    gw.signal("-HUP");
    let refused = gw.wait_for("reload refused; the running configuration stays in service");
    let error = refused["error"].as_str().unwrap();
    assert!(
        error.contains("gateway.toml:") && error.contains("routes[0].upstream"),
        "{error}"
    );
    assert_eq!(
        get(&c, &gw.url("/added/y")).await.status,
        StatusCode::OK,
        "the old routes serve"
    );

    assert_eq!(gw.stop().await, Some(0));
    assert_eq!(up.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_watch_config_a_changed_file_is_reloaded_without_a_signal() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let dir = TempDir::new("watch");
    write_tls_files(&ca, &dir);
    let base = base_config(&up.url()).replace("[server]\n", "[server]\nwatch_config = true\n");
    let path = config_file(&dir, &base);
    let mut gw = Process::start(&path);
    let c = client(&ca, false);
    assert_eq!(
        get(&c, &gw.url("/watched/x")).await.status,
        StatusCode::NOT_FOUND
    );

    // Written aside and renamed over, as editors and ConfigMap updates do.
    let next = with_route(&base, "/watched/").replace("@DIR@", dir.0.to_str().unwrap());
    let aside = write(&dir.0, ".gateway.toml.new", &next);
    std::fs::rename(&aside, &path).unwrap();
    let reloading = gw.wait_for("reloading the configuration");
    assert_eq!(reloading["trigger"], "configuration file changed");
    gw.wait_for("configuration reloaded");
    assert_eq!(get(&c, &gw.url("/watched/x")).await.status, StatusCode::OK);
    assert_eq!(gw.stop().await, Some(0));
}
