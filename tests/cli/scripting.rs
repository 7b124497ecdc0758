//! Captures, feeders and checks end to end: log in, capture the token, use it.

use std::sync::atomic::Ordering;

use super::support::{Kneepoint, Scenario, expect_first_error, target};

/// Six iterations, one user: log in as the next row of `people.csv` (read in `mode`), capture
/// the token, then fetch `/me` with it and check that the user is `check_user`.
fn scenario(url: &str, mode: &str, check_user: &str) -> Scenario {
    Scenario::new("scripting", url)
        .closed(1, "30s", 6)
        .with(&format!(
            r#"[[feeder]]
name = "people"
path = "people.csv"
mode = "{mode}"
on_end = "recycle""#
        ))
        .transaction("session")
        .request("login", "/login")
        .with(
            r#"method = "POST"
json = { user = "{{username}}" }
capture = { token = { json = "$.token" } }"#,
        )
        .request("me", "/me")
        .with(&format!(
            r#"headers = {{ authorization = "Bearer {{{{token}}}}" }}
check = {{ status = [200], json = {{ "$.user" = "{check_user}" }} }}"#
        ))
}

const PEOPLE: &str = "username,password\nada,x\ngrace,y\nlinus,z\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_capture_and_authorised_request() {
    let t = target().await;
    let run = Kneepoint::run_of(scenario(&t.url, "sequential", "ada"))
        .file("people.csv", PEOPLE)
        .args(&["--quiet"])
        .run()
        .await;
    // Rows go ada, grace, linus, ada, …: the check on `ada` fails for 4 of 6 iterations.
    run.expect_code(0);
    assert_eq!(
        t.counters.authorised.load(Ordering::SeqCst),
        6,
        "every token was used"
    );
    let me = run.scope("session/me");
    assert_eq!(me["stats"]["requests"], 6);
    assert_eq!(me["stats"]["errors"], 4);
    // The message names the failed check.
    expect_first_error(&me, "check", "$.user");
    assert_eq!(run.scope("session/login")["stats"]["errors"], 0);
}

/// Check values are templates too: `/me` must answer the user this iteration logged in as (its
/// feeder row), so every check passes; checked against another column, every one fails with the
/// rendered value in the message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_values_use_the_users_own_variables() {
    let t = target().await;
    let run = Kneepoint::run_of(scenario(&t.url, "sequential", "{{username}}"))
        .file("people.csv", PEOPLE)
        .args(&["--quiet"])
        .run()
        .await;
    run.expect_code(0);
    let me = run.scope("session/me");
    assert_eq!(me["stats"]["requests"], 6);
    assert_eq!(me["stats"]["errors"], 0, "{me}");

    let t = target().await;
    let run = Kneepoint::run_of(scenario(&t.url, "sequential", "{{password}}"))
        .file("people.csv", PEOPLE)
        .args(&["--quiet"])
        .run()
        .await;
    let me = run.scope("session/me");
    assert_eq!(me["stats"]["errors"], 6, "{me}");
    expect_first_error(&me, "check", "expected \"x\"");
}
