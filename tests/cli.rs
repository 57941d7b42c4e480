//! The `cec-gateway` binary: `check`, `sign`, and `serve` as a separate process (JSON access
//! log, SIGTERM → exit 0), with known secrets (channel key, token key, mint key) that must appear
//! in no log line or response.

use crate::support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use http::{Request, StatusCode};
use http_body_util::BodyExt;
use support::*;

const BIN: &str = env!("CARGO_BIN_EXE_cec-gateway");
const SECRET: &str = "Sup3rSecretChannelKey0042";
const TOKEN_KEY: &str = "cli-serve-token-key-0123456789-abcdefghij";
const MINT: &str = "cli-serve-mint-key-0123456789-abcdefghijk";

/// `cec-gateway check --config <config>`, with `CLI_TEST_SECRET` set to `secret` or unset.
fn check(config: &Path, secret: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(["check", "--config"]).arg(config);
    match secret {
        Some(secret) => cmd.env("CLI_TEST_SECRET", secret),
        None => cmd.env_remove("CLI_TEST_SECRET"),
    };
    cmd.output().unwrap()
}

#[test]
fn check_prints_a_summary_without_secrets_or_names_the_error() {
    let dir = TempDir::new("cli-check");
    let good = write(
        &dir.0,
        "good.toml",
        "[server]\nlisten = \"127.0.0.1:8443\"\n[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\nself_signed = true\n[upstreams.cec]\nurl = \"https://cec.example\"\n[[routes]]\nprefix = \"/service-cloud/\"\nupstream = \"cec\"\n[signing]\n[[signing.channels]]\nconfig_id = \"123\"\nsecret_key_env = \"CLI_TEST_SECRET\"\n",
    );
    let out = check(&good, Some(SECRET));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for part in [
        "is valid",
        "https  127.0.0.1:8443",
        "/service-cloud/          -> cec",
        "channel 123",
        "secret from env CLI_TEST_SECRET",
        "stop: /readyz 503 for 0s, then drain for 30s; reload on SIGHUP",
    ] {
        assert!(stdout.contains(part), "missing {part:?} in\n{stdout}");
    }
    assert!(!stdout.contains(SECRET));

    let bad = write(
        &dir.0,
        "bad.toml",
        &std::fs::read_to_string(&good)
            .unwrap()
            .replace("upstream = \"cec\"", "upstream = \"cecc\""),
    );
    let out = check(&bad, Some(SECRET));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("bad.toml:11: routes[0].upstream: no upstream named \"cecc\""),
        "{stderr}"
    );

    let out = check(&good, None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("environment variable CLI_TEST_SECRET is not set")
    );
}

#[test]
fn sign_reproduces_the_published_vector_and_explains_it() {
    let dir = TempDir::new("cli-sign");
    let cfg = write(
        &dir.0,
        "c.toml",
        "[server]\n[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n[signing]\n[[signing.channels]]\nconfig_id = \"817854979183314945\"\nsecret_key_file = \"secret\"\n",
    );
    write(&dir.0, "secret", "abcDEF123456\n");
    let args = [
        "sign",
        "--channel",
        "817854979183314945",
        "--user-id",
        "10010001",
        "--user-name",
        "Tom",
        "--tenant",
        "202007159031",
        "--timestamp",
        "2024-08-19T08:30:00.000Z",
        "--config",
    ];
    let out = Command::new(BIN).args(args).arg(&cfg).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "auth-v2/817854979183314945/2024-08-19T08:30:00.000Z/content-length;content-type/0f20c61518fc886c85e8b430e1dae7be079e2761e05979263e82e30772b788fd\n"
    );
    let out = Command::new(BIN)
        .args(args)
        .arg(&cfg)
        .arg("--explain")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(r#"{"thirdUserName":"Tom","thirdUserId":"10010001","tenantSpaceId":"202007159031","channelConfigId":"817854979183314945"}"#), "{text}");
    assert!(text.contains(
        "auth-v2/817854979183314945/2024-08-19T08:30:00.000Z/content-length;content-type"
    ));
    assert!(text.contains("118"));
    assert!(!text.contains("abcDEF123456"));
}

/// Runs the gateway as a process with JSON logs, drives every error path with a known secret,
/// stops it with SIGTERM and checks the exit code, the access log, and that the secret is in
/// no log line and no response.
#[tokio::test(flavor = "multi_thread")]
async fn serve_logs_json_access_lines_never_the_secret_and_exits_0_on_sigterm() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let dir = TempDir::new("cli-serve");
    write_tls_files(&ca, &dir);
    let closed = closed_port().await;
    let cfg = base_config(&up.url()).replace("@DIR@", dir.0.to_str().unwrap())
        + &format!(
            "\n[upstreams.down]\nurl = \"https://localhost:{}\"\n\n[[routes]]\nprefix = \"/down/\"\nupstream = \"down\"\n\n[signing]\nauthorization_endpoint = \"/webchat/authorizationService\"\nmax_body = \"512\"\n\n[[signing.channels]]\nconfig_id = \"817854979183314945\"\ntenant_space_id = \"202007159031\"\nsecret_key_env = \"CEC_SECRET_KEY\"\n\n[token]\nsecret_env = \"CEC_TOKEN_KEY\"\nmint_key_env = \"CEC_MINT_KEY\"\n",
            closed.port()
        );
    let cfg_path = write(&dir.0, "gateway.toml", &cfg);
    let mut child = Command::new(BIN)
        .args(["--log-format", "json", "--config"])
        .arg(&cfg_path)
        .env("CEC_SECRET_KEY", SECRET)
        .env("CEC_TOKEN_KEY", TOKEN_KEY)
        .env("CEC_MINT_KEY", MINT)
        .env("RUST_LOG", "debug")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = Vec::new();
    let (https, admin) = loop {
        let line = lines_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the gateway logs that it is serving");
        let v: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        log.push(line);
        if v["message"] == "cec-gateway serving" {
            let addr = |s: &str| s.parse::<std::net::SocketAddr>().unwrap();
            let admin = v["admin"].as_str().unwrap();
            let admin = admin.strip_prefix("Some(").unwrap().trim_end_matches(')');
            break (addr(v["https"].as_str().unwrap()), addr(admin));
        }
    };
    let url = |p: &str| format!("https://localhost:{}{p}", https.port());
    let c = client(&ca, false);
    let sign_path = "/service-cloud/webclient/chat_client/js/newThirdPartyClient.js";
    let good = r#"{"thirdUserName":"Tom","thirdUserId":"1","tenantSpaceId":"202007159031","channelConfigId":"817854979183314945"}"#;
    let requests: Vec<(&str, String, String)> = vec![
        ("POST", url(sign_path), good.into()),
        (
            "POST",
            url(&format!("{sign_path}?secret=query-value")),
            good.replace("Tom", "Jerry"),
        ),
        ("POST", url(sign_path), "x".repeat(600)),
        ("POST", url(sign_path), "{oops".into()),
        (
            "POST",
            url(sign_path),
            good.replace(r#""thirdUserId":"1","#, ""),
        ),
        (
            "POST",
            url(sign_path),
            good.replace("817854979183314945", "1"),
        ),
        ("POST", url(sign_path), good.replace("202007159031", "2")),
        ("POST", url("/webchat/authorizationService"), good.into()),
        ("POST", url("/webchat/authorizationService"), "[]".into()),
        ("GET", url("/webchat/authorizationService"), String::new()),
        ("GET", url("/down/x"), String::new()),
        ("GET", url("/nowhere"), String::new()),
    ];
    let mut bodies = String::new();
    for (method, u, b) in &requests {
        let req = Request::builder()
            .method(*method)
            .uri(u)
            .header("cookie", "session=cookie-value")
            .body(body(b.clone()))
            .unwrap();
        let got = send(&c, req).await;
        assert_ne!(got.status, StatusCode::INTERNAL_SERVER_ERROR);
        bodies.push_str(got.text());
    }
    // Minting on the admin listener: a wrong mint key, none, and the right one.
    let admin_client: hyper_util::client::legacy::Client<_, TestBody> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let right = format!("Bearer {MINT}");
    for (auth, want) in [
        (Some("Bearer wrong-mint-key-0123456789-abcdefghij"), 401),
        (None, 401),
        (Some(right.as_str()), 200),
    ] {
        let mut req = Request::post(format!("http://{admin}/tokens"));
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        let b = r#"{"userId":"1","userName":"Tom","tenantSpaceId":"202007159031"}"#;
        let resp = admin_client
            .request(req.body(body(b)).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), want, "{auth:?}");
        let text = resp.into_body().collect().await.unwrap().to_bytes();
        bodies.push_str(&String::from_utf8_lossy(&text));
    }
    assert!(!bodies.contains(MINT), "a response carried the mint key");
    assert!(!bodies.contains(SECRET), "a response carried the secret");
    assert_eq!(
        up.requests().len(),
        2,
        "the two valid signing POSTs were forwarded"
    );

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0), "exit 0 after SIGTERM");
    // The reader thread ends at EOF, once the process has exited and its last lines are read.
    log.extend(lines_rx.iter());

    let all = log.join("\n");
    assert!(!all.contains(SECRET), "the secret reached the log");
    assert!(!all.contains(MINT), "the mint key reached the log");
    assert!(!all.contains(TOKEN_KEY), "the token key reached the log");
    assert!(
        !all.contains("cookie-value") && !all.contains("query-value"),
        "cookies and queries stay out of the log"
    );
    let access: Vec<serde_json::Value> = log
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["target"] == "access")
        .collect();
    assert_eq!(
        access.len(),
        requests.len(),
        "one access line per request:\n{all}"
    );
    let first = &access[0];
    assert_eq!(first["method"], "POST");
    assert_eq!(first["route"], "/service-cloud/");
    assert_eq!(first["path"], sign_path);
    assert_eq!(first["status"], 200);
    assert_eq!(first["upstream_status"], 200);
    assert_eq!(first["peer"], "127.0.0.1");
    assert!(
        first["request_id"].as_str().unwrap().len() == 32
            && first["bytes"] == 2
            && first["duration_ms"].is_number(),
        "{first}"
    );
    let statuses: Vec<i64> = access
        .iter()
        .map(|a| a["status"].as_i64().unwrap())
        .collect();
    assert_eq!(
        statuses,
        vec![200, 200, 413, 400, 400, 403, 403, 200, 400, 405, 502, 404]
    );
    assert!(log.iter().any(|l| l.contains("SIGTERM")), "{all}");
}

#[test]
fn token_mints_a_jwt_with_the_documented_claims() {
    let dir = TempDir::new("cli-token");
    let cfg = write(
        &dir.0,
        "c.toml",
        "[server]\n[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n[token]\nsecret_env = \"CLI_TOKEN_KEY\"\nttl = \"5m\"\n",
    );
    let key = "cli-token-key-0123456789-0123456789-xyz";
    let out = Command::new(BIN)
        .args([
            "token",
            "--user-id",
            "10010001",
            "--user-name",
            "Tom",
            "--tenant",
            "202007159031",
            "--config",
        ])
        .arg(&cfg)
        .env("CLI_TOKEN_KEY", key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_secret(key.as_bytes()),
        &jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256),
    )
    .expect("a standard HS256 JWT")
    .claims;
    assert_eq!(claims["sub"], "10010001");
    assert_eq!(claims["name"], "Tom");
    assert_eq!(claims["tid"], "202007159031");
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        300
    );
    assert!(claims["jti"].as_str().unwrap().len() >= 16);
    assert!(!token.contains(key));
}
