//! The per-request hot path: render a request's templates and record its latency.
//!
//! Run with `cargo bench --bench hot_path`. The generator benchmark (`ci/bench-generator.sh`)
//! measures the whole loop against wrk; this isolates kneepoint's own share of it.

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use kneepoint::plan::Plan;
use kneepoint::recorder::{Ended, Recorder, Scopes};
use kneepoint::scenario::model::{
    ClosedLoad, HttpMethod, Load, LoadModel, RequestSpec, Stage, Transaction,
};
use kneepoint::template::{Escape, RenderContext, Template, VarTable};

fn templates(c: &mut Criterion) {
    let mut vars = VarTable::default();
    vars.slot("id");
    vars.slot("token");
    let path = Template::parse("/api/items/{{id}}?user={{user}}", &vars, Escape::None)
        .expect("template parses");
    let body = Template::parse(
        r#"{"title":"item {{id}}","by":"{{token}}"}"#,
        &vars,
        Escape::JsonString,
    )
    .expect("template parses");
    let values = vec![Some("12345".to_owned()), Some("abc\"def".to_owned())];
    let ctx = RenderContext {
        vars: &values,
        user: 7,
        iteration: 3,
    };
    let mut out = String::new();
    c.bench_function("render path + json body", |b| {
        b.iter(|| {
            out.clear();
            path.render_into(black_box(&ctx), &vars, &mut out)
                .expect("renders");
            body.render_into(black_box(&ctx), &vars, &mut out)
                .expect("renders");
            black_box(out.len())
        });
    });
}

fn recording(c: &mut Criterion) {
    let load = Load {
        model: LoadModel::Closed(ClosedLoad {
            stages: vec![Stage {
                name: None,
                target: 50.0,
                ramp: Duration::ZERO,
                hold: Duration::from_secs(3600),
            }],
            think_time: None,
        }),
        max_duration: None,
        max_iterations: None,
    };
    let txn = Transaction {
        name: "browse".into(),
        weight: 1,
        think_time: None,
        requests: vec![RequestSpec {
            name: "get".into(),
            method: HttpMethod::Get,
            url: Template::literal("/"),
            headers: vec![],
            body: None,
            checks: vec![],
            captures: vec![],
            think_time: None,
        }],
    };
    let recorder = Recorder::new(Plan::new(&load, None), Scopes::new(&[txn]), 4);
    let mut i = 0u64;
    c.bench_function("record request (ok, 200)", |b| {
        b.iter(|| {
            i += 1;
            let outcome = Ended {
                at: Instant::now(),
                latency: Duration::from_micros(500 + i % 20_000),
                intended: None,
                status: Some(200),
                error: None,
            };
            recorder.record_request(black_box(1), 0, 0, &outcome);
        });
    });
}

criterion_group!(benches, templates, recording);
criterion_main!(benches);
