//! The User Sync client against the simulator, over real HTTP on a random port.

use std::time::Duration;

use crate::support::*;
use serde_json::json;
use usersync_bot::simulator::{Faults, RecordedCall, SettingsUpdate, TriggerAnswerMode};
use usersync_bot::usersync::{
    ApiFlavour, ResultCount, SyncOutcome, SyncState, UserSyncError, REDACTED, USERSYNC_PREFIX,
};

fn path(rest: &str) -> String {
    format!("{USERSYNC_PREFIX}{rest}")
}

fn only_call(calls: &[RecordedCall]) -> &RecordedCall {
    assert_eq!(calls.len(), 1, "expected exactly one call, got {calls:#?}");
    &calls[0]
}

#[tokio::test]
async fn lists_connectors_with_every_setting_kept() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(200)).await;
    let connectors = client(&sim, ApiFlavour::V2)
        .list_connectors()
        .await
        .unwrap();
    let names: Vec<_> = connectors.iter().map(|c| c.display_name()).collect();
    assert_eq!(
        names,
        ["Azure AD", "Okta", "Google Workspace", "Corporate LDAP"]
    );
    let azure = &connectors[0];
    assert_eq!(azure.unique_id, AZURE);
    assert_eq!(azure.kind().as_deref(), Some("AZURE_AD"));
    assert_eq!(azure.directory_id().as_deref(), Some("10100"));
    // The client keeps secrets as sent (nothing is lost) …
    assert_eq!(
        azure.extra["clientSecret"],
        "azure-SIM-client-secret-Q8~xv3"
    );
    // … and redaction hides every one of them, at any depth.
    let shown: Vec<String> = connectors
        .iter()
        .map(|c| c.redacted().to_string())
        .collect();
    for secret in [
        "azure-SIM-client-secret",
        "00SIM-okta-api-token",
        "BEGIN PRIVATE KEY",
        "ldap-SIM-bind-pw",
        "MIIC-SIMULATED",
    ] {
        assert!(shown.iter().all(|s| !s.contains(secret)), "{secret} leaked");
    }
    assert!(shown[3].contains(REDACTED));

    let call = only_call(&sim.state().calls()).clone();
    assert_eq!(call.method, "GET");
    assert_eq!(call.path, path("/connector/"));
    assert_eq!(call.auth.as_deref(), Some("Basic admin"));
    assert_eq!(call.atlassian_token, None, "GETs need no XSRF header");
}

#[tokio::test]
async fn gets_one_connector_and_names_the_missing_one() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(200)).await;
    let c = client(&sim, ApiFlavour::V2);
    let okta = c.get_connector(OKTA).await.unwrap();
    assert_eq!(okta.display_name(), "Okta");

    let err = c.get_connector("no-such-connector").await.unwrap_err();
    assert!(matches!(err, UserSyncError::NotFound { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with("jira: connector \"no-such-connector\" not found"),
        "{text}"
    );
    assert_eq!(sim.state().calls().len(), 2, "a 404 is not retried");
}

#[tokio::test]
async fn merge_patch_changes_a_connector_with_its_content_type() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(200)).await;
    let c = client(&sim, ApiFlavour::V2);
    let patched = c
        .merge_patch_connector(
            AZURE,
            &json!({"name": "Changed Name", "futureSetting": {"x": 1}}),
        )
        .await
        .unwrap()
        .expect("the simulator answers the connector");
    assert_eq!(patched.display_name(), "Changed Name");
    let fetched = c.get_connector(AZURE).await.unwrap();
    assert_eq!(fetched.display_name(), "Changed Name");
    assert_eq!(
        fetched.extra["futureSetting"],
        json!({"x": 1}),
        "unknown fields are kept"
    );

    let calls = sim.state().calls();
    let patch = &calls[0];
    assert_eq!(patch.method, "PATCH");
    assert_eq!(patch.path, path(&format!("/connector/{AZURE}")));
    assert_eq!(
        patch.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert_eq!(patch.atlassian_token.as_deref(), Some("no-check"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&patch.body).unwrap(),
        json!({"name": "Changed Name", "futureSetting": {"x": 1}})
    );
}

#[tokio::test]
async fn json_patch_changes_a_connector_and_a_bad_patch_changes_nothing() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(200)).await;
    let c = client(&sim, ApiFlavour::V2);
    let patch: json_patch::Patch = serde_json::from_value(
        json!([{"op": "replace", "path": "/name", "value": "Changed name"}]),
    )
    .unwrap();
    let patched = c.json_patch_connector(OKTA, &patch).await.unwrap().unwrap();
    assert_eq!(patched.display_name(), "Changed name");
    let call = sim.state().calls()[0].clone();
    assert_eq!(
        call.content_type.as_deref(),
        Some("application/json-patch+json")
    );
    assert_eq!(call.atlassian_token.as_deref(), Some("no-check"));

    let bad: json_patch::Patch =
        serde_json::from_value(json!([{"op": "remove", "path": "/doesNotExist"}])).unwrap();
    let err = c.json_patch_connector(OKTA, &bad).await.unwrap_err();
    match &err {
        UserSyncError::Rejected {
            status, message, ..
        } => {
            assert_eq!(*status, 400);
            assert!(
                message.as_deref().unwrap_or("").contains("does not apply"),
                "{err}"
            );
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(
        c.get_connector(OKTA).await.unwrap().display_name(),
        "Changed name"
    );
}

#[tokio::test]
async fn trigger_sync_2x_sends_json_and_xsrf_header_and_the_sync_runs_to_done() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(300)).await;
    let c = client(&sim, ApiFlavour::V2);
    let before = c.last_sync_status(AZURE).await.unwrap();
    assert_eq!(before.status, SyncState::Done);
    let expected_id = sim.state().next_sync_id();
    assert!(expected_id > before.id);
    sim.state().clear_calls();

    let answer = c.trigger_sync(AZURE, false).await.unwrap();
    assert_eq!(answer.http_status, 204);
    assert_eq!(answer.sync_id(), None, "the default answer carries no id");
    let call = only_call(&sim.state().calls()).clone();
    assert_eq!(call.method, "POST");
    assert_eq!(call.path, path(&format!("/connector/{AZURE}/sync")));
    assert_eq!(call.query, None);
    assert_eq!(
        call.content_type.as_deref(),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(call.atlassian_token.as_deref(), Some("no-check"));

    let done = wait_for("the new sync to finish", || async {
        let s = c.last_sync_status(AZURE).await.unwrap();
        (s.id > before.id && s.status.is_terminal()).then_some(s)
    })
    .await;
    assert_eq!(done.id, expected_id);
    assert_eq!(done.status, SyncState::Done);
    assert_eq!(done.sync_status_result, Some(SyncOutcome::Success));
    assert_eq!(done.connector_uid.as_deref(), Some(AZURE));
    assert!(done.messages[0].starts_with("Scheduled with jobid "));
    let counts = [
        done.added_count,
        done.updated_count,
        done.deleted_count,
        done.failed_count,
        done.filtered_count,
        done.not_modified_count,
    ];
    let total: u64 = counts.iter().map(|c| c.unwrap()).sum();
    assert_eq!(Some(total), done.result_count);
    assert_eq!(total, 25, "every Azure AD user has a result");
    assert_eq!(done.duration, Some(300));
    assert!(done.extra.contains_key("_self"), "unknown fields are kept");
}

#[tokio::test]
async fn trigger_sync_with_local_asks_for_run_locally() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(100)).await;
    let c = client(&sim, ApiFlavour::V2);
    c.trigger_sync(OKTA, true).await.unwrap();
    let call = only_call(&sim.state().calls()).clone();
    assert_eq!(call.query.as_deref(), Some("local=true"));
    let done = wait_for("the local sync to finish", || async {
        let s = c.last_sync_status(OKTA).await.unwrap();
        s.status.is_terminal().then_some(s)
    })
    .await;
    assert_eq!(done.cluster_node.as_deref(), Some("jira-node-1"));
    assert!(done.messages.iter().any(|m| m.contains("RUN_LOCALLY")));
}

#[tokio::test]
async fn trigger_answers_of_every_shape_are_read_without_relying_on_them() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let c = client(&sim, ApiFlavour::V2);
    let next = sim.state().next_sync_id();

    sim.state().update_settings(SettingsUpdate {
        trigger_answer: Some(TriggerAnswerMode::Status),
        ..Default::default()
    });
    let answer = c.trigger_sync(AZURE, false).await.unwrap();
    assert_eq!(answer.sync_id(), Some(next));
    assert_eq!(answer.as_status().unwrap().status, SyncState::Scheduled);

    sim.state().update_settings(SettingsUpdate {
        trigger_answer: Some(TriggerAnswerMode::Text),
        ..Default::default()
    });
    let answer = c.trigger_sync(OKTA, false).await.unwrap();
    assert_eq!(answer.sync_id(), None);
    assert!(answer
        .text
        .as_deref()
        .unwrap()
        .starts_with("Sync scheduled"));
}

#[tokio::test]
async fn a_second_trigger_while_one_runs_is_refused_by_the_product() {
    let sim = simulator(ApiFlavour::V2, Duration::from_secs(30)).await;
    let c = client(&sim, ApiFlavour::V2);
    c.trigger_sync(AZURE, false).await.unwrap();
    let err = c.trigger_sync(AZURE, false).await.unwrap_err();
    assert!(
        matches!(err, UserSyncError::Rejected { status: 409, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("already running"), "{err}");
}

#[tokio::test]
async fn a_1_9_sync_trigger_sends_no_body() {
    let sim = simulator(ApiFlavour::V1_9, Duration::from_millis(50)).await;
    let c = client(&sim, ApiFlavour::V1_9);
    c.trigger_sync(AZURE, false).await.unwrap();
    let call = only_call(&sim.state().calls()).clone();
    assert_eq!(call.path, path(&format!("/connector/{AZURE}/sync")));
    assert_eq!(call.body, "");
    assert_eq!(call.content_type, None);
    assert_eq!(call.atlassian_token.as_deref(), Some("no-check"));
    assert_eq!(call.status, Some(204));
}

#[tokio::test]
async fn single_user_update_2x_sends_the_identifier_in_the_body() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let c = client(&sim, ApiFlavour::V2);

    let answer = c
        .sync_single_user(AZURE, "juergen.mueller@acme.example", false)
        .await
        .unwrap();
    let json = answer.json.unwrap();
    assert_eq!(json["userName"], "jürgen müller");
    assert_eq!(json["action"], "UPDATED");

    let answer = c
        .sync_single_user(AZURE, "jürgen müller", true)
        .await
        .unwrap();
    assert_eq!(answer.json.unwrap()["displayName"], "Jürgen Müller");

    let calls = sim.state().calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        calls[0].path,
        path(&format!("/connector/{AZURE}/syncsingle"))
    );
    assert_eq!(
        calls[0].content_type.as_deref(),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&calls[0].body).unwrap(),
        json!({"identifier": "juergen.mueller@acme.example"})
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&calls[1].body).unwrap(),
        json!({"identifier": "jürgen müller", "overridePrimaryAttributeWithUsername": true})
    );
}

#[tokio::test]
async fn hostile_identifiers_never_change_the_url_called() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let c2 = client(&sim, ApiFlavour::V2);
    for hostile in ["../../directory/7", "a/b?c#d", "x\"}, \"override\": true"] {
        let err = c2
            .sync_single_user(AZURE, hostile, false)
            .await
            .unwrap_err();
        assert!(matches!(err, UserSyncError::NotFound { .. }), "{err:?}");
        let calls = sim.state().calls();
        let last = calls.last().unwrap();
        assert_eq!(last.path, path(&format!("/connector/{AZURE}/syncsingle")));
        assert_eq!(last.query, None);
        let body: serde_json::Value = serde_json::from_str(&last.body).unwrap();
        assert_eq!(body, json!({"identifier": hostile}));
    }

    let sim19 = simulator(ApiFlavour::V1_9, Duration::from_millis(50)).await;
    let c19 = client(&sim19, ApiFlavour::V1_9);
    let cases = [
        ("../../directory/7", "..%2F..%2Fdirectory%2F7"),
        ("a/b?c#d", "a%2Fb%3Fc%23d"),
        ("jürgen müller", "j%C3%BCrgen%20m%C3%BCller"),
    ];
    for (hostile, encoded) in cases {
        let _ = c19.sync_single_user(AZURE, hostile, false).await;
        let calls = sim19.state().calls();
        let last = calls.last().unwrap();
        assert_eq!(
            last.path,
            path(&format!("/connector/{AZURE}/syncsingle/{encoded}"))
        );
        assert_eq!(last.query, None);
        assert_eq!(last.method, "POST");
    }
    // The simulator decoded the last one back to the real user.
    assert_eq!(sim19.state().calls().last().unwrap().status, Some(200));

    // A connector id is a path segment too.
    let err = c19.get_connector("../connector").await.unwrap_err();
    assert!(matches!(err, UserSyncError::NotFound { .. }));
    assert_eq!(
        sim19.state().calls().last().unwrap().path,
        path("/connector/..%2Fconnector")
    );

    // Dot segments cannot be encoded safely, so they are refused before any call.
    let before = sim19.state().calls().len();
    for dots in [".", ".."] {
        let err = c19.sync_single_user(AZURE, dots, false).await.unwrap_err();
        assert!(
            matches!(err, UserSyncError::InvalidArgument { .. }),
            "{err:?}"
        );
        let err = c19.get_connector(dots).await.unwrap_err();
        assert!(
            matches!(err, UserSyncError::InvalidArgument { .. }),
            "{err:?}"
        );
    }
    assert_eq!(sim19.state().calls().len(), before);
}

#[tokio::test]
async fn single_user_update_1_9_by_username_is_refused_without_a_call() {
    let sim = simulator(ApiFlavour::V1_9, Duration::from_millis(50)).await;
    let c = client(&sim, ApiFlavour::V1_9);
    let err = c
        .sync_single_user(AZURE, "alice.anderson", true)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("needs User Sync 2.x"), "{err}");
    assert!(sim.state().calls().is_empty());
    let ok = c
        .sync_single_user(AZURE, "alice.anderson", false)
        .await
        .unwrap();
    assert_eq!(ok.json.unwrap()["action"], "UPDATED");
}

#[tokio::test]
async fn a_user_whose_update_fails_is_answered_as_failed() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let c = client(&sim, ApiFlavour::V2);
    let users = {
        c.trigger_sync(OKTA, false).await.unwrap();
        let done = wait_for("the Okta sync", || async {
            let s = c.last_sync_status(OKTA).await.unwrap();
            s.status.is_terminal().then_some(s)
        })
        .await;
        assert_eq!(done.failed_count, Some(2));
        c.sync_results(done.id, ResultCount::All).await.unwrap()
    };
    let failed: Vec<_> = users.iter().filter(|u| u.is_failure()).collect();
    assert_eq!(failed.len(), 2);
    let name = failed[0].user_name().unwrap();
    let answer = c.sync_single_user(OKTA, &name, false).await.unwrap();
    let json = answer.json.unwrap();
    assert_eq!(json["action"], "FAILED");
    assert_eq!(json["message"].as_str(), failed[0].message().as_deref());
}

#[tokio::test]
async fn sync_status_by_id_and_results_honour_count() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(100)).await;
    let c = client(&sim, ApiFlavour::V2);
    let last = c.last_sync_status(AZURE).await.unwrap();
    let by_id = c.sync_status(last.id).await.unwrap();
    assert_eq!(by_id, last);

    let first = c.sync_results(last.id, ResultCount::Default).await.unwrap();
    assert_eq!(first.len(), 10);
    let five = c
        .sync_results(last.id, ResultCount::Count(5))
        .await
        .unwrap();
    assert_eq!(five.len(), 5);
    assert_eq!(five[..], first[..5]);
    let all = c.sync_results(last.id, ResultCount::All).await.unwrap();
    assert_eq!(all.len() as u64, last.result_count.unwrap());
    assert!(all
        .iter()
        .all(|u| u.user_name().is_some() && u.action().is_some()));
    assert!(all
        .iter()
        .any(|u| u.email().as_deref() == Some("juergen.mueller@acme.example")));

    let queries: Vec<_> = sim.state().calls().into_iter().map(|c| c.query).collect();
    assert_eq!(
        queries,
        [
            None,
            None,
            None,
            Some("count=5".into()),
            Some("count=-1".into())
        ]
    );

    let err = c.sync_status(999_999).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "jira: sync 999999 not found: Sync status 999999 not found"
    );
}

#[tokio::test]
async fn unknown_status_values_and_fields_are_preserved() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(100)).await;
    let c = client(&sim, ApiFlavour::V2);
    let last = c.last_sync_status(AZURE).await.unwrap();
    sim.state()
        .override_sync(
            last.id,
            json!({"status": "REINDEXING", "syncStatusResult": "PARTIAL_SUCCESS",
                   "newField": {"nested": [1, 2]}, "messages": null, "addedCount": null}),
        )
        .unwrap();
    let s = c.sync_status(last.id).await.unwrap();
    assert_eq!(s.status, SyncState::Other("REINDEXING".into()));
    assert!(
        !s.status.is_terminal(),
        "an unknown status is not taken as finished"
    );
    assert_eq!(
        s.sync_status_result,
        Some(SyncOutcome::Other("PARTIAL_SUCCESS".into()))
    );
    assert_eq!(s.extra["newField"], json!({"nested": [1, 2]}));
    assert!(s.messages.is_empty());
    assert_eq!(s.added_count, None);
    assert_eq!(s.updated_count, last.updated_count);
}

#[tokio::test]
async fn deleted_directory_fails_syncs_until_the_connector_is_saved_again() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let c = client(&sim, ApiFlavour::V2);
    c.delete_directory("10100").await.unwrap();
    let call = sim.state().calls()[0].clone();
    assert_eq!(call.method, "DELETE");
    assert_eq!(call.path, "/rest/samlsso-admin/1.0/directory/10100");
    assert_eq!(call.atlassian_token.as_deref(), Some("no-check"));

    let err = c.delete_directory("10100").await.unwrap_err();
    assert!(matches!(err, UserSyncError::NotFound { .. }), "{err:?}");

    c.trigger_sync(AZURE, false).await.unwrap();
    let failed = wait_for("the failing sync", || async {
        let s = c.last_sync_status(AZURE).await.unwrap();
        s.status.is_terminal().then_some(s)
    })
    .await;
    assert!(failed.is_failure());
    assert!(failed
        .messages
        .iter()
        .any(|m| m == "Directory 10100 does not exists"));
    assert_eq!(
        failed.result_message.as_deref(),
        Some("Directory 10100 does not exists")
    );

    // Saving the connector unchanged recreates the directory under a new id.
    let saved = c
        .merge_patch_connector(AZURE, &json!({}))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(saved.directory_id().as_deref(), Some("10500"));
    c.trigger_sync(AZURE, false).await.unwrap();
    let ok = wait_for("the sync after saving", || async {
        let s = c.last_sync_status(AZURE).await.unwrap();
        (s.id > failed.id && s.status.is_terminal()).then_some(s)
    })
    .await;
    assert!(!ok.is_failure());
}

#[tokio::test]
async fn a_whole_sync_failure_can_be_switched_on() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let c = client(&sim, ApiFlavour::V2);
    sim.state()
        .set_connector_failure(
            AZURE,
            Some("Connection to graph.microsoft.com timed out".into()),
        )
        .unwrap();
    c.trigger_sync(AZURE, false).await.unwrap();
    let s = wait_for("the failing sync", || async {
        let s = c.last_sync_status(AZURE).await.unwrap();
        s.status.is_terminal().then_some(s)
    })
    .await;
    assert_eq!(s.status, SyncState::Failed);
    assert!(s.is_failure());
    assert_eq!(s.result_count, Some(0));
}

#[tokio::test]
async fn bearer_tokens_and_basic_credentials_are_checked() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let token = client_with(&sim, ApiFlavour::V2, bearer("sim-personal-access-token"));
    assert_eq!(token.list_connectors().await.unwrap().len(), 4);
    assert_eq!(sim.state().calls()[0].auth.as_deref(), Some("Bearer"));

    for (creds, label) in [
        (basic("admin", "wrong-password"), "wrong password"),
        (basic("someone", "admin"), "wrong user"),
        (bearer("wrong-token"), "wrong token"),
    ] {
        let c = client_with(&sim, ApiFlavour::V2, creds);
        let err = c.list_connectors().await.unwrap_err();
        assert!(
            matches!(err, UserSyncError::CredentialsRejected { status: 401, .. }),
            "{label}: {err:?}"
        );
        let text = err.to_string();
        assert!(
            text.starts_with("jira: credentials rejected (HTTP 401)"),
            "{text}"
        );
        assert!(
            !text.contains("wrong"),
            "the message never echoes a credential: {text}"
        );
    }
}

#[tokio::test]
async fn secrets_never_show_in_debug_output() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let c = client_with(&sim, ApiFlavour::V2, basic("admin", "hunter2-secret"));
    let t = client_with(&sim, ApiFlavour::V2, bearer("pat-secret-value"));
    let debug = format!("{c:?} {t:?}");
    assert!(!debug.contains("hunter2-secret"), "{debug}");
    assert!(!debug.contains("pat-secret-value"), "{debug}");
    assert!(debug.contains("admin"));
}

#[tokio::test]
async fn a_get_is_retried_after_a_503_and_succeeds() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let c = client(&sim, ApiFlavour::V2);
    sim.state().set_faults(Faults {
        error_rate: 1.0,
        error_status: 503,
        remaining: Some(2),
        ..Faults::default()
    });
    let connectors = c.list_connectors().await.unwrap();
    assert_eq!(connectors.len(), 4);
    let statuses: Vec<_> = sim.state().calls().iter().map(|c| c.status).collect();
    assert_eq!(statuses, [Some(503), Some(503), Some(200)]);
}

#[tokio::test]
async fn get_gives_up_after_the_bounded_number_of_attempts() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let c = client(&sim, ApiFlavour::V2);
    sim.state().set_faults(Faults {
        error_rate: 1.0,
        error_status: 502,
        ..Faults::default()
    });
    let err = c.last_sync_status(AZURE).await.unwrap_err();
    assert!(
        matches!(err, UserSyncError::Upstream { status: 502, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "jira: the product answered with an error (HTTP 502): Simulated failure of the product"
    );
    assert_eq!(sim.state().calls().len(), 3);
}

#[tokio::test]
async fn a_500_is_not_retried() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let c = client(&sim, ApiFlavour::V2);
    sim.state().set_faults(Faults {
        error_rate: 1.0,
        error_status: 500,
        ..Faults::default()
    });
    let err = c.list_connectors().await.unwrap_err();
    assert!(
        matches!(err, UserSyncError::Upstream { status: 500, .. }),
        "{err:?}"
    );
    assert_eq!(sim.state().calls().len(), 1);
}

#[tokio::test]
async fn mutating_calls_are_never_retried() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let c = client(&sim, ApiFlavour::V2);
    sim.state().set_faults(Faults {
        error_rate: 1.0,
        error_status: 503,
        ..Faults::default()
    });
    let err = c.trigger_sync(AZURE, false).await.unwrap_err();
    assert!(
        matches!(err, UserSyncError::Upstream { status: 503, .. }),
        "{err:?}"
    );
    let err = c
        .sync_single_user(AZURE, "alice.anderson", false)
        .await
        .unwrap_err();
    assert!(
        matches!(err, UserSyncError::Upstream { status: 503, .. }),
        "{err:?}"
    );
    let err = c
        .merge_patch_connector(AZURE, &json!({"name": "x"}))
        .await
        .unwrap_err();
    assert!(
        matches!(err, UserSyncError::Upstream { status: 503, .. }),
        "{err:?}"
    );
    let err = c.delete_directory("10100").await.unwrap_err();
    assert!(
        matches!(err, UserSyncError::Upstream { status: 503, .. }),
        "{err:?}"
    );
    let methods: Vec<_> = sim.state().calls().into_iter().map(|c| c.method).collect();
    assert_eq!(methods, ["POST", "POST", "PATCH", "DELETE"]);

    // A hang is not retried either: one POST, then a timeout.
    sim.state().clear_calls();
    sim.state().set_faults(Faults {
        hang: true,
        ..Faults::default()
    });
    let err = c.trigger_sync(AZURE, false).await.unwrap_err();
    assert!(matches!(err, UserSyncError::Timeout { .. }), "{err:?}");
    assert_eq!(sim.state().calls().len(), 1);
}

#[tokio::test]
async fn a_hanging_product_times_out_with_a_clear_message() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let c = client(&sim, ApiFlavour::V2);
    sim.state().set_faults(Faults {
        hang: true,
        ..Faults::default()
    });
    let err = c.list_connectors().await.unwrap_err();
    assert!(matches!(err, UserSyncError::Timeout { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "jira: no answer within 500ms — the product may be overloaded or down"
    );
    assert_eq!(
        sim.state().calls().len(),
        3,
        "a GET that timed out is retried"
    );
}

#[tokio::test]
async fn latency_within_the_timeout_is_only_slow() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let c = client(&sim, ApiFlavour::V2);
    sim.state().set_faults(Faults {
        latency_ms: 150,
        ..Faults::default()
    });
    let started = std::time::Instant::now();
    assert_eq!(c.list_connectors().await.unwrap().len(), 4);
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(sim.state().calls().len(), 1);
}

#[tokio::test]
async fn an_injected_401_reads_as_rejected_credentials() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let c = client(&sim, ApiFlavour::V2);
    sim.state().set_faults(Faults {
        unauthorized: true,
        ..Faults::default()
    });
    let err = c.get_connector(AZURE).await.unwrap_err();
    assert!(
        matches!(err, UserSyncError::CredentialsRejected { .. }),
        "{err:?}"
    );
    assert_eq!(sim.state().calls().len(), 1);
}

#[tokio::test]
async fn malformed_json_is_reported_without_quoting_the_body() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let c = client(&sim, ApiFlavour::V2);
    sim.state().set_faults(Faults {
        malformed_json: true,
        ..Faults::default()
    });
    let err = c.last_sync_status(AZURE).await.unwrap_err();
    assert!(matches!(err, UserSyncError::BadAnswer { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with("jira: the answer was not JSON of the expected shape (cut-off JSON"),
        "{text}"
    );
    assert!(!text.contains("DONE"), "{text}");
}

#[tokio::test]
async fn the_wrong_shape_is_reported() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let c = client(&sim, ApiFlavour::V2);
    let last = c.last_sync_status(AZURE).await.unwrap();
    sim.state()
        .override_sync(last.id, json!({"id": "not-a-number-secret"}))
        .unwrap();
    let err = c.sync_status(last.id).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("JSON of an unexpected shape"), "{text}");
    assert!(
        !text.contains("not-a-number-secret"),
        "no value from the body is quoted: {text}"
    );
}

#[tokio::test]
async fn an_unreachable_product_is_named_with_its_address() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let c = client(&sim, ApiFlavour::V2);
    let url = sim.base_url();
    sim.stop().await;
    let err = c.list_connectors().await.unwrap_err();
    assert!(
        matches!(err, UserSyncError::CannotConnect { .. }),
        "{err:?}"
    );
    let origin = url.as_str().trim_end_matches('/').to_string();
    assert_eq!(
        err.to_string(),
        format!(
            "jira: cannot connect to {origin} — check the instance's base_url and that it is up"
        )
    );
}

#[tokio::test]
async fn a_base_url_with_a_context_path_is_kept() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let mut config_url = sim.base_url();
    config_url.set_path("/jira/");
    let c = usersync_bot::usersync::UserSyncClient::new(
        usersync_bot::usersync::InstanceConfig::new("jira", config_url, basic("admin", "admin")),
    )
    .unwrap();
    let err = c.list_connectors().await.unwrap_err();
    assert!(matches!(err, UserSyncError::NotFound { .. }));
    assert_eq!(
        sim.state().calls()[0].path,
        format!("/jira{USERSYNC_PREFIX}/connector/")
    );
}
