//! The per-request work of the proxy path, on the real functions (`cec_gateway::bench`): the
//! signer, the body injection, both as the signing path runs them, and the request and
//! response header rewrite. `cargo bench --manifest-path benches/Cargo.toml`.

use std::hint::black_box;

use cec_gateway::bench::{BODY, Bench};
use criterion::{Criterion, criterion_group, criterion_main};

fn signing(c: &mut Criterion) {
    let b = Bench::new();
    let fields = b.fields();
    let authorization = b.signer(&fields);
    c.bench_function("signer (auth-v2 HMAC-SHA256)", |x| {
        x.iter(|| b.signer(black_box(&fields)))
    });
    c.bench_function("body injection (parse, drop secretKey, add field)", |x| {
        x.iter(|| b.inject(black_box(BODY), black_box(&authorization)))
    });
    c.bench_function("sign_body (the whole signing rewrite)", |x| {
        x.iter(|| b.sign_body(black_box(BODY)))
    });
}

fn headers(c: &mut Criterion) {
    let b = Bench::new();
    let request = b.browser_get();
    c.bench_function("request head rewrite (browser GET)", |x| {
        x.iter_batched_ref(
            || request.clone(),
            |parts| b.request_head(parts),
            criterion::BatchSize::SmallInput,
        )
    });
    let response = b.cec_response();
    c.bench_function("response head rewrite (Set-Cookie, Location)", |x| {
        x.iter_batched_ref(
            || response.clone(),
            |h| b.response_head(h),
            criterion::BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, signing, headers);
criterion_main!(benches);
