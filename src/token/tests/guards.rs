//! The guards around validation: body size, rate limit, allowed callers, single use.

use super::*;

#[test]
fn oversized_body_is_413_before_parsing() {
    let svc = service_with(|c| c.max_body = 512);
    let token = mint_at(&svc, T0);
    let mut body = request(&token, USER);
    assert!(
        svc.validate_request(peer("192.0.2.1"), &body, at(T0))
            .is_valid()
    );
    body.resize(513, b' ');
    let verdict = svc.validate_request(peer("192.0.2.1"), &body, at(T0));
    assert_eq!(verdict.status, http::StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(verdict.outcome, Outcome::TooLarge);
    body.truncate(512);
    assert!(
        svc.validate_request(peer("192.0.2.1"), &body, at(T0))
            .is_valid()
    );
}

#[test]
fn rate_limit_per_source_with_refill() {
    let svc = service_with(|c| {
        c.rate_per_sec = 1.0;
        c.rate_burst = 3;
    });
    let body = request(&mint_at(&svc, T0), USER);
    let (a, b) = (peer("192.0.2.1"), peer("198.51.100.2"));
    for _ in 0..3 {
        assert!(svc.validate_request(a, &body, at(T0)).is_valid());
    }
    let limited = svc.validate_request(a, &body, at(T0));
    assert_eq!(limited.status, http::StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.outcome, Outcome::RateLimited);
    let json: Value = serde_json::from_slice(&limited.body).expect("JSON");
    assert_eq!(json["retCode"], 3);
    // Garbage is limited too: the limit comes before JSON and crypto.
    assert_eq!(
        svc.validate_request(a, b"garbage", at(T0)).outcome,
        Outcome::RateLimited
    );
    // Another source is served meanwhile.
    assert!(svc.validate_request(b, &body, at(T0)).is_valid());
    // One second refills one request.
    let t1 = at(T0) + Duration::from_millis(1_000);
    assert!(svc.validate_request(a, &body, t1).is_valid());
    assert_eq!(
        svc.validate_request(a, &body, t1).outcome,
        Outcome::RateLimited
    );
}

#[test]
fn allowed_callers_come_first() {
    let svc = service_with(|c| {
        c.allowed_callers = vec![
            "10.0.0.0/8".parse().expect("cidr"),
            "2001:db8::/32".parse().expect("cidr"),
        ];
        c.rate_burst = 1;
        c.rate_per_sec = 0.001;
    });
    let body = request(&mint_at(&svc, T0), USER);
    for outsider in ["192.0.2.1", "::1", "::ffff:192.0.2.1"] {
        let verdict = svc.validate_request(peer(outsider), &body, at(T0));
        assert_eq!(verdict.status, http::StatusCode::FORBIDDEN, "{outsider}");
        assert_eq!(verdict.outcome, Outcome::Forbidden);
    }
    assert!(
        svc.validate_request(peer("10.1.2.3"), &body, at(T0))
            .is_valid()
    );
    assert!(
        svc.validate_request(peer("2001:db8::7"), &body, at(T0))
            .is_valid()
    );
    // An IPv4-mapped address is its IPv4 address, for the list and for the limit.
    assert_eq!(
        svc.validate_request(peer("::ffff:10.1.2.3"), &body, at(T0))
            .outcome,
        Outcome::RateLimited
    );
    // Forbidden before rate limited, before size.
    assert_eq!(
        svc.validate_request(peer("192.0.2.1"), &[b' '; 1 << 16], at(T0))
            .outcome,
        Outcome::Forbidden
    );
}

#[test]
fn single_use_refuses_a_second_use() {
    let svc = service_with(|c| c.single_use = true);
    let a = peer("192.0.2.1");
    let token = mint_at(&svc, T0);
    // A refused attempt does not burn the token.
    let wrong = svc.validate_request(a, &request(&token, (USER.0, "Mallory", USER.2)), at(T0));
    assert_eq!(wrong.outcome, Outcome::Invalid(Invalid::NameMismatch));
    assert!(
        svc.validate_request(a, &request(&token, USER), at(T0))
            .is_valid()
    );
    let again = svc.validate_request(a, &request(&token, USER), at(T0 + 5));
    assert_eq!(again.outcome, Outcome::Invalid(Invalid::Replayed));
    // Another token for the same user is a different jti.
    assert!(
        svc.validate_request(a, &request(&mint_at(&svc, T0), USER), at(T0))
            .is_valid()
    );
    // Without single_use the same token validates again.
    let reusable = service();
    let token = mint_at(&reusable, T0);
    for _ in 0..3 {
        assert!(
            reusable
                .validate_request(a, &request(&token, USER), at(T0))
                .is_valid()
        );
    }
}

#[test]
fn single_use_memory_cap_fails_closed() {
    let mut cfg = config();
    cfg.single_use = true;
    let svc = TokenService::with_capacities(&cfg, 16, 2);
    let a = peer("192.0.2.1");
    let tokens: Vec<String> = (0..3).map(|_| mint_at(&svc, T0)).collect();
    assert!(
        svc.validate_request(a, &request(&tokens[0], USER), at(T0))
            .is_valid()
    );
    assert!(
        svc.validate_request(a, &request(&tokens[1], USER), at(T0))
            .is_valid()
    );
    let full = svc.validate_request(a, &request(&tokens[2], USER), at(T0));
    assert_eq!(full.outcome, Outcome::Invalid(Invalid::ReplayStoreFull));
    assert_eq!(
        full.body,
        Verdict::of(Outcome::Invalid(Invalid::Expired)).body
    );
    // Once the remembered tokens are past exp + leeway they are evicted and there is room again.
    let later = T0 + TTL + LEEWAY + 1;
    assert!(
        svc.validate_request(a, &request(&mint_at(&svc, later), USER), at(later))
            .is_valid()
    );
}

#[test]
fn a_reload_carries_the_used_tokens_and_the_buckets_over() {
    let limited = |c: &mut TokenConfig| {
        c.single_use = true;
        c.rate_per_sec = 1.0;
        c.rate_burst = 2;
    };
    let old = service_with(limited);
    let body = request(&mint_at(&old, T0), USER);
    let caller = peer("192.0.2.1");
    assert!(old.validate_request(caller, &body, at(T0)).is_valid());

    let mut new = service_with(limited);
    new.carry_over(&old);
    let replayed = new.validate_request(caller, &body, at(T0));
    assert_eq!(replayed.outcome, Outcome::Invalid(Invalid::Replayed));
    let limited_now = new.validate_request(caller, &body, at(T0));
    assert_eq!(
        limited_now.outcome,
        Outcome::RateLimited,
        "the bucket was spent before"
    );

    // A changed limit starts new buckets; the used token stays used.
    let mut changed = service_with(|c| {
        limited(c);
        c.rate_burst = 5;
    });
    changed.carry_over(&new);
    let again = changed.validate_request(caller, &body, at(T0));
    assert_eq!(again.outcome, Outcome::Invalid(Invalid::Replayed));
}
