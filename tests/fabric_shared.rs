//! One API Fabric token for the fleet (issue 13, item 7): two gateways on one real Redis
//! (`[store]`) and one mock API Fabric. A cold burst spread over both makes one `tokenByAkSk`;
//! when the API revokes its tokens, the first replica to see a 401 fetches a new one and the
//! other takes it from the store; with the store down, each replica fetches its own and every
//! call still succeeds.

use std::collections::HashSet;

use cec_gateway::demo::mock_fabric::{AGENTS_PATH, MockFabric, TOKEN_PATH};
use http::StatusCode;

use crate::support::*;

const ALLOW_LOCAL: &str = "allowed_callers = [\"127.0.0.0/8\"]";

async fn replica(ca: &DemoCa, up: &MockUpstream, redis: &Redis) -> Gateway {
    let store = format!(
        "\n[store]\nredis_url = \"{}\"\npassword_env = \"REDIS_PASSWORD\"\ntimeout = \"250ms\"\n",
        redis.url()
    );
    let config = fabric_config(&up.url(), "", ALLOW_LOCAL) + &store;
    let mut env = fabric_env(APP_SECRET);
    env.push(("REDIS_PASSWORD", redis.password.clone()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Gateway::start_with_env(ca, &config, &env).await
}

/// `n` concurrent calls on each of `gateways`; every answer must be 200.
async fn burst(ca: &DemoCa, gateways: &[&Gateway], n: usize) {
    let c = client(ca, false);
    let mut calls = Vec::new();
    for gw in gateways {
        for _ in 0..n {
            let (c, url) = (c.clone(), gw.url(AGENTS_PATH));
            calls.push(tokio::spawn(async move { get(&c, &url).await }));
        }
    }
    for call in calls {
        let got = call.await.unwrap();
        assert_eq!(got.status, StatusCode::OK, "{}", got.text());
    }
}

/// The tokens the API calls presented, in order.
fn tokens(up: &MockUpstream) -> Vec<String> {
    let calls = up.requests().into_iter().filter(|r| r.uri != TOKEN_PATH);
    calls
        .map(|r| r.headers["authorization"].to_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn two_replicas_share_one_token_and_one_refresh_through_the_store() {
    let ca = test_ca();
    let redis = Redis::start();
    let (up, fabric) = fabric_upstream(&ca, MockFabric::new(APP_KEY, APP_SECRET)).await;
    let (a, b) = (
        replica(&ca, &up, &redis).await,
        replica(&ca, &up, &redis).await,
    );

    burst(&ca, &[&a, &b], 20).await;
    assert_eq!(fabric.token_requests(), 1, "a cold fleet asked once");
    let seen: HashSet<_> = tokens(&up).into_iter().collect();
    assert_eq!(seen.len(), 1, "both replicas used the one token");

    // Revoked: A sees the 401 and fetches; B, on its own 401, takes A's new token.
    fabric.revoke_all();
    burst(&ca, &[&a], 1).await;
    assert_eq!(fabric.token_requests(), 2);
    burst(&ca, &[&b], 1).await;
    assert_eq!(
        fabric.token_requests(),
        2,
        "B took the new token from the store"
    );
    let all = tokens(&up);
    let (from_a, from_b) = (&all[all.len() - 3], &all[all.len() - 1]);
    assert_eq!(
        from_a, from_b,
        "A's retry and B's retry used the same new token"
    );
    assert!(fabric.is_live(from_b.strip_prefix("Bearer ").unwrap()));

    // The replicas' own counts agree: two tokenByAkSk in all, whichever replica sent them.
    let ok = r#"cec_gateway_upstream_token_requests_total{upstream="apifabric",result="ok"} "#;
    let mut asked = 0;
    for gw in [&a, &b] {
        let (_, metrics) = admin_get(gw, "/metrics").await;
        let line = metrics.lines().find(|l| l.starts_with(ok)).unwrap();
        asked += line[ok.len()..].parse::<u64>().unwrap();
    }
    assert_eq!(asked, 2, "the replicas count what the API Fabric saw");
}

#[tokio::test]
async fn with_the_store_down_each_replica_fetches_its_own_and_every_call_succeeds() {
    let ca = test_ca();
    let mut redis = Redis::start();
    let (up, fabric) = fabric_upstream(&ca, MockFabric::new(APP_KEY, APP_SECRET)).await;
    let (a, b) = (
        replica(&ca, &up, &redis).await,
        replica(&ca, &up, &redis).await,
    );
    redis.stop();

    burst(&ca, &[&a, &b], 10).await;
    assert_eq!(fabric.token_requests(), 2, "one per replica");
    let (_, metrics) = admin_get(&a, "/metrics").await;
    let errors = r#"cec_gateway_store_errors_total{op="fabric_token"} "#;
    let line = metrics.lines().find(|l| l.starts_with(errors)).unwrap();
    assert!(!line.ends_with(" 0"), "the outage is counted: {line}");
}
