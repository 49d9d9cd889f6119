//! The simulator behaves like an Atlassian product over HTTP: checks, status codes, admin
//! endpoints and the schedule. These talk raw HTTP so nothing of the client hides a gap.

use std::time::Duration;

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use usersync_bot::simulator::{RecordedCall, SettingsUpdate, ADMIN_PREFIX};
use usersync_bot::usersync::{ApiFlavour, USERSYNC_PREFIX};

fn api(sim: &usersync_bot::simulator::SimulatorHandle, rest: &str) -> String {
    format!(
        "{}{}{rest}",
        sim.base_url().as_str().trim_end_matches('/'),
        USERSYNC_PREFIX
    )
}

fn admin(sim: &usersync_bot::simulator::SimulatorHandle, rest: &str) -> String {
    format!(
        "{}{}{rest}",
        sim.base_url().as_str().trim_end_matches('/'),
        ADMIN_PREFIX
    )
}

#[tokio::test]
async fn calls_without_credentials_get_401_with_a_challenge() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let http = reqwest::Client::new();
    let r = http.get(api(&sim, "/connector/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key("www-authenticate"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["message"],
        "Client must be authenticated to access this resource."
    );
}

#[tokio::test]
async fn mutating_calls_without_the_xsrf_header_or_json_are_refused_and_change_nothing() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let http = reqwest::Client::new();
    let before = sim.state().next_sync_id();
    let r = http
        .post(api(&sim, &format!("/connector/{AZURE}/sync")))
        .basic_auth("admin", Some("admin"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        r.json::<Value>().await.unwrap()["message"],
        "XSRF check failed"
    );
    assert_eq!(sim.state().next_sync_id(), before, "no sync was started");

    let r = http
        .delete(format!(
            "{}/rest/samlsso-admin/1.0/directory/10100",
            sim.base_url().as_str().trim_end_matches('/')
        ))
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // The vendor's own spelling `nocheck` passes, as it does on a real product.
    let r = http
        .post(api(&sim, &format!("/connector/{AZURE}/sync")))
        .basic_auth("admin", Some("admin"))
        .header("X-Atlassian-Token", "nocheck")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(sim.state().next_sync_id(), before + 1);
}

#[tokio::test]
async fn patch_with_another_content_type_is_415_and_a_broken_patch_is_400() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let http = reqwest::Client::new();
    let url = api(&sim, &format!("/connector/{AZURE}"));
    for content_type in ["application/json", "text/plain"] {
        let r = http
            .patch(&url)
            .basic_auth("admin", Some("admin"))
            .header("X-Atlassian-Token", "no-check")
            .header("content-type", content_type)
            .body(r#"{"name":"x"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type}"
        );
    }
    for (content_type, body) in [
        ("application/json-patch+json", "not json"),
        (
            "application/json-patch+json",
            r#"[{"op":"frobnicate","path":"/name"}]"#,
        ),
        (
            "application/json-patch+json",
            r#"[{"op":"test","path":"/name","value":"Okta"}]"#,
        ),
        ("application/merge-patch+json", r#"{"uniqueId":"other"}"#),
        ("application/merge-patch+json", "{"),
    ] {
        let r = http
            .patch(&url)
            .basic_auth("admin", Some("admin"))
            .header("X-Atlassian-Token", "no-check")
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    let connector: Value = http
        .get(&url)
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(connector["name"], "Azure AD", "nothing changed");
    assert_eq!(connector["uniqueId"], AZURE);
}

#[tokio::test]
async fn each_flavour_answers_only_its_own_single_user_form() {
    let sim2 = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let sim19 = simulator(ApiFlavour::V1_9, Duration::from_millis(50)).await;
    let http = reqwest::Client::new();
    let post = |url: String| {
        http.post(url)
            .basic_auth("admin", Some("admin"))
            .header("X-Atlassian-Token", "no-check")
            .header("content-type", "application/json")
            .body(r#"{"identifier":"alice.anderson"}"#)
            .send()
    };
    let on19 = post(api(&sim19, &format!("/connector/{AZURE}/syncsingle")))
        .await
        .unwrap();
    assert_eq!(on19.status(), StatusCode::NOT_FOUND);
    let on2 = post(api(
        &sim2,
        &format!("/connector/{AZURE}/syncsingle/alice.anderson"),
    ))
    .await
    .unwrap();
    assert_eq!(on2.status(), StatusCode::NOT_FOUND);
    let ok = post(api(
        &sim19,
        &format!("/connector/{AZURE}/syncsingle/alice.anderson"),
    ))
    .await
    .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_results_count_must_be_a_number() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let r = reqwest::Client::new()
        .get(api(&sim, "/syncstatus/94/results?count=lots"))
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn admin_endpoints_drive_faults_settings_and_the_call_log_over_http() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let http = reqwest::Client::new();
    let r = http
        .put(admin(&sim, "/faults"))
        .json(&json!({"error_rate": 1.0, "error_status": 504, "remaining": 1, "method": "GET"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let list = |http: &reqwest::Client| {
        http.get(api(&sim, "/connector/"))
            .basic_auth("admin", Some("admin"))
            .send()
    };
    assert_eq!(
        list(&http).await.unwrap().status(),
        StatusCode::GATEWAY_TIMEOUT
    );
    assert_eq!(list(&http).await.unwrap().status(), StatusCode::OK);

    let calls: Vec<RecordedCall> = http
        .get(admin(&sim, "/calls"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let statuses: Vec<_> = calls.iter().map(|c| c.status).collect();
    assert_eq!(
        statuses,
        [Some(504), Some(200)],
        "admin calls are not logged"
    );
    assert_eq!(calls[0].auth.as_deref(), Some("Basic admin"));

    let r = http.delete(admin(&sim, "/calls")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(sim.state().calls().is_empty());

    let bad = http
        .put(admin(&sim, "/faults"))
        .json(&json!({"error_rat": 1.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        bad.status(),
        StatusCode::BAD_REQUEST,
        "a misspelt fault is refused"
    );

    let settings: Value = http
        .put(admin(&sim, "/settings"))
        .json(&json!({"sync_duration_ms": 1234, "trigger_answer": "status"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(settings["sync_duration_ms"], 1234);
    assert_eq!(settings["trigger_answer"], "status");
}

#[tokio::test]
async fn syncs_start_on_their_own_when_a_schedule_is_set() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let c = client(&sim, ApiFlavour::V2);
    let first = sim.state().next_sync_id();
    let http = reqwest::Client::new();
    http.put(admin(&sim, "/settings"))
        .json(&json!({"schedule_interval_ms": 100}))
        .send()
        .await
        .unwrap();
    let status = wait_for("a scheduled sync of Okta to finish", || async {
        let s = c.last_sync_status(OKTA).await.unwrap();
        (s.id >= first && s.status.is_terminal()).then_some(s)
    })
    .await;
    assert!(status
        .messages
        .iter()
        .any(|m| m == "Triggered by the sync schedule"));
    // Turning the schedule off stops it.
    http.put(admin(&sim, "/settings"))
        .json(&json!({"schedule_interval_ms": 0}))
        .send()
        .await
        .unwrap();
    // The syncs the schedule started last end; then a sync as long as three schedule
    // intervals runs, and nothing else starts meanwhile.
    for connector in c.list_connectors().await.unwrap() {
        wait_for("the last scheduled syncs to end", || async {
            // A connector the schedule leaves alone has no sync at all.
            let ended = c
                .last_sync_status(&connector.unique_id)
                .await
                .map_or(true, |s| s.status.is_terminal());
            ended.then_some(())
        })
        .await;
    }
    sim.state().update_settings(SettingsUpdate {
        sync_duration_ms: Some(300),
        ..SettingsUpdate::default()
    });
    let manual = sim.state().next_sync_id();
    c.trigger_sync(OKTA, false).await.unwrap();
    wait_for("the long manual sync to end", || async {
        let s = c.sync_status(manual).await.unwrap();
        s.status.is_terminal().then_some(())
    })
    .await;
    assert_eq!(
        sim.state().next_sync_id(),
        manual + 1,
        "no sync was started by the schedule"
    );
}

#[tokio::test]
async fn admin_can_start_a_sync_as_the_schedule_would_and_fail_a_connector() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let http = reqwest::Client::new();
    let r = http
        .put(admin(&sim, &format!("/connectors/{OKTA}/failure")))
        .json(&json!({"message": "Okta API rate limit exceeded"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let started: Value = http
        .post(admin(&sim, &format!("/connectors/{OKTA}/sync")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = started["id"].as_u64().unwrap();
    assert!(
        sim.state().calls().is_empty(),
        "admin calls are not API calls"
    );
    let c = client(&sim, ApiFlavour::V2);
    let done = wait_for("the failing sync", || async {
        let s = c.sync_status(id).await.unwrap();
        s.status.is_terminal().then_some(s)
    })
    .await;
    assert_eq!(
        done.result_message.as_deref(),
        Some("Okta API rate limit exceeded")
    );
    let unknown = http
        .put(admin(&sim, "/connectors/nope/failure"))
        .json(&json!({"message": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}
