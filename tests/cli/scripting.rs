//! Captures, feeders and checks end to end: log in, capture the token, use it.

use std::sync::atomic::Ordering;

use super::support::{Kneepoint, target};

fn scenario(url: &str, mode: &str, check_user: &str) -> String {
    format!(
        r#"
name = "scripting"
[target]
base_url = "{url}"
[load]
users = 1
duration = "30s"
iterations = 6
[[feeder]]
name = "people"
path = "people.csv"
mode = "{mode}"
on_end = "recycle"
[[transaction]]
name = "session"
[[transaction.request]]
name = "login"
method = "POST"
path = "/login"
json = {{ user = "{{{{username}}}}" }}
capture = {{ token = {{ json = "$.token" }} }}
[[transaction.request]]
name = "me"
path = "/me"
headers = {{ authorization = "Bearer {{{{token}}}}" }}
check = {{ status = [200], json = {{ "$.user" = "{check_user}" }} }}
"#
    )
}

const PEOPLE: &str = "username,password\nada,x\ngrace,y\nlinus,z\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_capture_and_authorised_request() {
    let t = target().await;
    let run = Kneepoint::new()
        .file("people.csv", PEOPLE)
        .file("s.toml", &scenario(&t.url, "sequential", "ada"))
        .args(&["run", "s.toml", "--out", "out", "--quiet"])
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
    let check = &me["errors"][0];
    assert_eq!(check["kind"], "check");
    assert!(
        check["samples"][0]
            .as_str()
            .is_some_and(|s| s.contains("$.user")),
        "the message names the failed check: {check}"
    );
    assert_eq!(run.scope("session/login")["stats"]["errors"], 0);
}
