//! The store's one test body, run on SQLite always and on PostgreSQL when
//! `USERSYNC_BOT_TEST_DATABASE_URL` names a server (an admin URL: each run creates its own
//! fresh database through it and drops it afterwards). Without it the PostgreSQL runs are
//! skipped, and a notice says so on the terminal.

use std::future::Future;
use std::sync::Arc;

use super::test_database::fresh_database;
use super::*;
use crate::domain::Platform;
use chrono::Utc;

/// What is skipped without a PostgreSQL server.
const RUNS: &str = "the PostgreSQL runs of the store tests";

/// Runs `body` on a fresh SQLite store, then on a fresh PostgreSQL database if there is a
/// server to test on. The body gets the store and its URL.
async fn on_each_backend<F, Fut>(test: &str, body: F)
where
    F: Fn(Arc<dyn Store>, String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = std::env::temp_dir().join(format!("usersync-bot-store-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("test.db").display());
    let store = open(&url).await.unwrap();
    run(body(store, url)).await;
    std::fs::remove_dir_all(dir).ok();

    let Some(db) = fresh_database(RUNS, test).await else {
        return;
    };
    let store = open(&db.url)
        .await
        .unwrap_or_else(|e| panic!("{test}: cannot open PostgreSQL store: {e}"));
    // The database is dropped with `db`, after the body or while its panic unwinds.
    run(body(store, db.url.clone())).await;
}

/// Runs a test body in its own task, so that its panic is reported as the test's.
async fn run(body: impl Future<Output = ()> + Send + 'static) {
    if let Err(e) = tokio::spawn(body).await {
        std::panic::resume_unwind(e.into_panic());
    }
}

#[tokio::test]
async fn audit_rows_round_trip_newest_first() {
    on_each_backend("audit_rows_round_trip_newest_first", |s, _url| async move {
        let entry = |text: &str, decision| AuditEntry {
            at: Utc::now(),
            platform: Platform::Slack,
            user_id: "U1".into(),
            user_name: None,
            channel_id: "C1".into(),
            command_text: text.into(),
            command: None,
            connector: None,
            decision,
            outcome: "ok".into(),
        };
        s.record_audits(&[
            entry("/usersync help", Decision::Allowed),
            entry("/usersync run x", Decision::Denied),
        ])
        .await
        .unwrap();
        let rows = s.recent_audit(10).await.unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].command_text, "/usersync run x");
        assert_eq!(rows[0].decision, Decision::Denied);
        assert_eq!(rows[1].platform, Platform::Slack);
    })
    .await;
}

/// (platform, user id, user name, command, connector) of an audit row.
type AuditedRow = (
    Platform,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
);

/// Six rows, oldest first.
const AUDITED: [AuditedRow; 6] = [
    (
        Platform::Slack,
        "U1",
        Some("alice"),
        Some("status"),
        Some("Okta"),
    ),
    (
        Platform::Slack,
        "U2",
        Some("Bob"),
        Some("run"),
        Some("okta"),
    ),
    (
        Platform::Mattermost,
        "U1",
        Some("carol"),
        Some("run"),
        Some("Azure AD"),
    ),
    (Platform::Slack, "U2", None, None, None),
    (Platform::Slack, "U1", Some("alice"), Some("audit"), None),
    (
        Platform::Slack,
        "U3",
        Some("okta"),
        Some("watch"),
        Some("*"),
    ),
];

fn audited(i: usize) -> AuditEntry {
    let (platform, user_id, user_name, command, connector) = AUDITED[i];
    AuditEntry {
        at: Utc::now(),
        platform,
        user_id: user_id.into(),
        user_name: user_name.map(str::to_string),
        channel_id: format!("C{i}"),
        command_text: format!("/usersync row {i}"),
        command: command.map(str::to_string),
        connector: connector.map(str::to_string),
        decision: if i == 1 {
            Decision::Denied
        } else {
            Decision::Allowed
        },
        outcome: format!("outcome {i}"),
    }
}

#[tokio::test]
async fn audit_filters_match_user_connector_and_command_newest_first() {
    on_each_backend(
        "audit_filters_match_user_connector_and_command_newest_first",
        |s, _url| async move {
            let all: Vec<AuditEntry> = (0..AUDITED.len()).map(audited).collect();
            s.record_audits(&all).await.unwrap();
            // Every field is kept.
            let page = s.audit_rows(&AuditFilter::default(), 100).await.unwrap();
            assert_eq!(page.more, 0);
            let mut expected = all.clone();
            expected.reverse();
            for (got, want) in page.rows.iter().zip(&expected) {
                assert_eq!(
                    AuditEntry {
                        at: want.at,
                        ..got.clone()
                    },
                    *want
                );
            }
            assert_eq!(page.rows.len(), all.len());

            let filter =
                |user: Option<&str>, connector: Option<&str>, command: Option<&str>| AuditFilter {
                    user: user.map(str::to_string),
                    connector: connector.map(str::to_string),
                    command: command.map(str::to_string),
                };
            // (filter, limit, rows matched newest first, how many more)
            let cases: Vec<(AuditFilter, u32, Vec<usize>, u64)> = vec![
                (filter(None, None, None), 2, vec![5, 4], 4),
                (filter(None, None, None), 0, vec![], 6),
                // A user id, on any platform; with its platform, on that one only.
                (filter(Some("U1"), None, None), 20, vec![4, 2, 0], 0),
                (filter(Some("slack:U1"), None, None), 20, vec![4, 0], 0),
                (filter(Some("mattermost:U1"), None, None), 20, vec![2], 0),
                (filter(Some("u1"), None, None), 20, vec![], 0),
                // A name, in any case, with or without `@`.
                (filter(Some("@ALICE"), None, None), 20, vec![4, 0], 0),
                (filter(Some("bob"), None, None), 20, vec![1], 0),
                (filter(Some("@U2"), None, None), 1, vec![3], 1),
                (filter(Some("ali"), None, None), 20, vec![], 0),
                // The connector as typed, in any case; not a user named like it.
                (filter(None, Some("OKTA"), None), 20, vec![1, 0], 0),
                (filter(None, Some("azure ad"), None), 20, vec![2], 0),
                (filter(None, Some("*"), None), 20, vec![5], 0),
                (filter(None, Some("okt"), None), 20, vec![], 0),
                // The canonical command name.
                (filter(None, None, Some("run")), 20, vec![2, 1], 0),
                (filter(None, None, Some("run")), 1, vec![2], 1),
                (filter(None, None, Some("audit")), 20, vec![4], 0),
                // All of them at once.
                (
                    filter(Some("U2"), Some("okta"), Some("run")),
                    20,
                    vec![1],
                    0,
                ),
                (filter(Some("U1"), Some("okta"), Some("run")), 20, vec![], 0),
            ];
            for (f, limit, want, more) in cases {
                let page = s.audit_rows(&f, limit).await.unwrap();
                let got: Vec<String> = page.rows.iter().map(|r| r.command_text.clone()).collect();
                let want: Vec<String> = want.iter().map(|i| format!("/usersync row {i}")).collect();
                assert_eq!((got, page.more), (want, more), "{f:?}, limit {limit}");
            }
        },
    )
    .await;
}

#[tokio::test]
async fn jobs_round_trip_and_open_ones_are_found() {
    on_each_backend(
        "jobs_round_trip_and_open_ones_are_found",
        |s, _url| async move {
            let now = Utc::now();
            let mut job = JobRecord {
                id: 0,
                kind: JobKind::Sync,
                platform: Platform::Slack,
                instance: "jira".into(),
                connector_id: "c1".into(),
                connector_name: "Azure AD".into(),
                subject: None,
                channel_id: "C1".into(),
                user_id: "U1".into(),
                user_name: Some("alice".into()),
                response_url: Some("https://hooks.slack.com/x".into()),
                response_url_expires_at: Some(now),
                response_posts: 0,
                baseline_sync_id: Some(94),
                sync_id: None,
                local: true,
                state: JobState::Following,
                last_status: None,
                progress_channel: None,
                progress_ts: None,
                delivery: Delivery::Pending,
                delivery_error: None,
                started_at: now,
                updated_at: now,
                finished_at: None,
            };
            job.id = s.insert_job(&job).await.unwrap();
            assert_eq!(s.open_jobs().await.unwrap().len(), 1);
            job.sync_id = Some(95);
            job.state = JobState::Done;
            job.delivery = Delivery::Posted;
            job.last_status = Some(serde_json::json!({"id": 95, "status": "DONE"}));
            job.finished_at = Some(now);
            s.update_job(&job).await.unwrap();
            assert!(s.open_jobs().await.unwrap().is_empty());
            let back = s.recent_jobs(5).await.unwrap();
            assert_eq!(back.len(), 1);
            let mut expected = job.clone();
            // Timestamps are stored to the microsecond.
            expected.started_at = back[0].started_at;
            expected.updated_at = back[0].updated_at;
            expected.response_url_expires_at = back[0].response_url_expires_at;
            expected.finished_at = back[0].finished_at;
            assert_eq!(back[0], expected);
        },
    )
    .await;
}

/// A sync job just started on connector `c1`, being followed.
fn following_job() -> JobRecord {
    JobRecord::new(
        JobKind::Sync,
        Platform::Slack,
        "jira",
        "c1",
        "Okta",
        "C1",
        "U1",
    )
}

const LEASE: std::time::Duration = std::time::Duration::from_secs(60);
const NO_TIME: std::time::Duration = std::time::Duration::ZERO;

#[test]
fn a_dead_replicas_lease_is_taken_over_within_the_configured_lease() {
    for secs in [3, 15, 300] {
        let r = Replica::this_process(std::time::Duration::from_secs(secs));
        // Written for ttl at the last renewal, claimed at most a tick after it ran out.
        assert_eq!(r.ttl() + r.tick(), r.lease, "{secs}s");
        // Just before a renewal a lease still holds for ttl - tick: a post may go out.
        assert!(r.post_margin() < r.ttl() - r.tick(), "{secs}s");
        // Claims at least as often as renewals, and a renewal is never skipped.
        assert!(r.claim_every() <= r.tick(), "{secs}s");
        let mut ago = r.claim_every();
        while !r.renewal_due(ago) {
            ago += r.claim_every();
        }
        assert!(ago <= r.tick(), "{secs}s: renewed after {ago:?}");
        assert!(
            ago + r.claim_every() >= r.tick(),
            "{secs}s: renewed after {ago:?}"
        );
    }
    let (a, b) = (owner_id(), owner_id());
    assert_ne!(a, b, "two replicas never share a name");
    assert!(a.contains(&format!("-{}-", std::process::id())), "{a}");
}

#[tokio::test]
async fn a_job_lease_is_held_renewed_released_and_lost_on_the_databases_clock() {
    on_each_backend(
        "a_job_lease_is_held_renewed_released_and_lost_on_the_databases_clock",
        |s, url| async move {
            let single_process = Backend::of_url(&url) == Some(Backend::Sqlite);
            let mut job = following_job();
            job.id = s.insert_leased_job(&job, "a", LEASE).await.unwrap();
            assert!(s
                .claim_jobs("b", LEASE, Claim::Expired)
                .await
                .unwrap()
                .is_empty());
            assert!(!s.update_leased_job(&job, "b", NO_TIME).await.unwrap());
            assert!(s.update_leased_job(&job, "a", NO_TIME).await.unwrap());
            assert!(
                !s.update_leased_job(&job, "a", LEASE * 2).await.unwrap(),
                "not held for longer than the lease"
            );
            assert_eq!(
                s.renew_job_leases("a", &[job.id, 999], LEASE)
                    .await
                    .unwrap(),
                [job.id]
            );
            assert!(s
                .renew_job_leases("b", &[job.id], LEASE)
                .await
                .unwrap()
                .is_empty());

            // Released: another replica takes it at its next claim, and the first may no
            // longer write it.
            assert_eq!(s.release_job_leases("a", &[]).await.unwrap(), 1);
            assert!(!s.update_leased_job(&job, "a", NO_TIME).await.unwrap());
            let taken = s.claim_jobs("b", LEASE, Claim::Expired).await.unwrap();
            assert_eq!(taken.iter().map(|j| j.id).collect::<Vec<_>>(), [job.id]);
            assert_eq!(taken[0].connector_id, "c1");
            assert!(s
                .renew_job_leases("a", &[job.id], LEASE)
                .await
                .unwrap()
                .is_empty());
            assert!(s
                .claim_jobs("a", LEASE, Claim::Expired)
                .await
                .unwrap()
                .is_empty());
            assert_eq!(
                s.release_job_leases("b", &[job.id]).await.unwrap(),
                0,
                "kept"
            );

            // At start, only a single-process backend takes a lease that has not expired.
            let at_start = s.claim_jobs("c", LEASE, Claim::AtStart).await.unwrap();
            assert_eq!(at_start.len(), usize::from(single_process), "{url}");

            // A lease left to expire (a replica that died) is taken by the next claim.
            let mut short = following_job();
            short.id = s
                .insert_leased_job(&short, "d", std::time::Duration::from_millis(1))
                .await
                .unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
            assert!(!s.update_leased_job(&short, "d", NO_TIME).await.unwrap());
            let taken = s.claim_jobs("e", LEASE, Claim::Expired).await.unwrap();
            assert_eq!(taken.iter().map(|j| j.id).collect::<Vec<_>>(), [short.id]);

            // A job that is over is no longer claimed, whoever held it.
            short.state = JobState::Done;
            short.delivery = Delivery::Posted;
            assert!(s.update_leased_job(&short, "e", NO_TIME).await.unwrap());
            s.release_job_leases("e", &[]).await.unwrap();
            let left = s.claim_jobs("f", LEASE, Claim::Expired).await.unwrap();
            assert!(left.iter().all(|j| j.id != short.id), "{left:?}");
        },
    )
    .await;
}

#[tokio::test]
async fn a_named_lease_has_one_holder_and_a_fence_that_grows_when_it_changes_hands() {
    on_each_backend(
        "a_named_lease_has_one_holder_and_a_fence_that_grows_when_it_changes_hands",
        |s, url| async move {
            let single_process = Backend::of_url(&url) == Some(Backend::Sqlite);
            let w = "watcher";
            assert_eq!(
                s.acquire_lease(w, "a", LEASE, Claim::Expired)
                    .await
                    .unwrap(),
                Some(1)
            );
            assert_eq!(
                s.acquire_lease(w, "a", LEASE, Claim::Expired)
                    .await
                    .unwrap(),
                Some(1),
                "renewed"
            );
            assert_eq!(
                s.acquire_lease(w, "b", LEASE, Claim::Expired)
                    .await
                    .unwrap(),
                None
            );
            assert!(s.lease_held(w, "a", 1, NO_TIME).await.unwrap());
            assert!(!s.lease_held(w, "a", 1, LEASE * 2).await.unwrap());
            assert!(!s.lease_held(w, "b", 1, NO_TIME).await.unwrap());
            s.release_lease(w, "b").await.unwrap();
            assert!(
                s.lease_held(w, "a", 1, NO_TIME).await.unwrap(),
                "only its holder ends it"
            );

            s.release_lease(w, "a").await.unwrap();
            assert!(!s.lease_held(w, "a", 1, NO_TIME).await.unwrap());
            assert_eq!(
                s.acquire_lease(w, "b", LEASE, Claim::Expired)
                    .await
                    .unwrap(),
                Some(2)
            );
            assert!(
                !s.lease_held(w, "a", 1, NO_TIME).await.unwrap(),
                "fenced off"
            );
            assert!(s.lease_held(w, "b", 2, NO_TIME).await.unwrap());

            let at_start = s
                .acquire_lease(w, "c", LEASE, Claim::AtStart)
                .await
                .unwrap();
            assert_eq!(at_start, single_process.then_some(3), "{url}");

            // Taken again after it expired: a new number, even by the same owner.
            let short = std::time::Duration::from_millis(1);
            assert_eq!(
                s.acquire_lease("other", "a", short, Claim::Expired)
                    .await
                    .unwrap(),
                Some(1)
            );
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
            assert_eq!(
                s.acquire_lease("other", "a", LEASE, Claim::Expired)
                    .await
                    .unwrap(),
                Some(2)
            );
        },
    )
    .await;
}

#[tokio::test]
async fn two_stores_on_one_database_racing_for_a_job_or_a_lease_let_exactly_one_win() {
    on_each_backend(
        "two_stores_on_one_database_racing_for_a_job_or_a_lease_let_exactly_one_win",
        |first, url| async move {
            // A second handle with its own connections, as a second replica has.
            let second = open(&url).await.unwrap();
            for round in 0..20 {
                let job = following_job();
                let id = first.insert_job(&job).await.unwrap();
                let (a, b) = tokio::join!(
                    first.claim_jobs("a", LEASE, Claim::Expired),
                    second.claim_jobs("b", LEASE, Claim::Expired),
                );
                let (a, b) = (a.unwrap(), b.unwrap());
                let winners: Vec<i64> = a.iter().chain(&b).map(|j| j.id).collect();
                assert_eq!(winners, [id], "round {round}: {a:?} {b:?}");

                let name = format!("lease-{round}");
                let (a, b) = tokio::join!(
                    first.acquire_lease(&name, "a", LEASE, Claim::Expired),
                    second.acquire_lease(&name, "b", LEASE, Claim::Expired),
                );
                let granted = [a.unwrap(), b.unwrap()];
                assert_eq!(
                    granted.iter().flatten().collect::<Vec<_>>(),
                    [&1],
                    "round {round}: {granted:?}"
                );
            }
        },
    )
    .await;
}

#[tokio::test]
async fn a_delivery_is_claimed_once_and_can_be_forgotten() {
    on_each_backend(
        "a_delivery_is_claimed_once_and_can_be_forgotten",
        |s, _url| async move {
            assert!(s.claim_delivery(Platform::Slack, "t1", "r1").await.unwrap());
            assert!(!s.claim_delivery(Platform::Slack, "t1", "r1").await.unwrap());
            assert!(
                s.claim_delivery(Platform::Mattermost, "t1", "r2")
                    .await
                    .unwrap(),
                "per platform"
            );
            let forgotten = s
                .forget_deliveries_before(Utc::now() + chrono::Duration::seconds(1))
                .await
                .unwrap();
            assert_eq!(forgotten, 2);
            assert!(s.claim_delivery(Platform::Slack, "t1", "r1").await.unwrap());
        },
    )
    .await;
}

#[tokio::test]
async fn a_claimed_delivery_keeps_its_first_answer_per_platform() {
    on_each_backend(
        "a_claimed_delivery_keeps_its_first_answer_per_platform",
        |s, _url| async move {
            assert_eq!(
                s.delivery_answer(Platform::Slack, "t1").await.unwrap(),
                None
            );
            let before = Utc::now() - chrono::Duration::seconds(1);
            assert!(s.claim_delivery(Platform::Slack, "t1", "r1").await.unwrap());
            assert!(s
                .claim_delivery(Platform::Mattermost, "t1", "r2")
                .await
                .unwrap());
            let claim = s
                .delivery_answer(Platform::Slack, "t1")
                .await
                .unwrap()
                .unwrap();
            assert!(claim.received_at > before, "{claim:?}");
            assert_eq!(claim.claimed_by.as_deref(), Some("r1"));
            assert_eq!(claim.answer, None);
            s.record_delivery_answer(Platform::Slack, "t1", "{\"title\":\"first\"}")
                .await
                .unwrap();
            let claim = s
                .delivery_answer(Platform::Slack, "t1")
                .await
                .unwrap()
                .unwrap();
            assert_eq!(claim.answer.as_deref(), Some("{\"title\":\"first\"}"));
            let other = s
                .delivery_answer(Platform::Mattermost, "t1")
                .await
                .unwrap()
                .unwrap();
            assert_eq!(other.answer, None, "per platform");
            assert_eq!(other.claimed_by.as_deref(), Some("r2"));
            // An answer for a delivery never claimed is not kept.
            s.record_delivery_answer(Platform::Slack, "t2", "{}")
                .await
                .unwrap();
            assert_eq!(
                s.delivery_answer(Platform::Slack, "t2").await.unwrap(),
                None
            );
        },
    )
    .await;
}

#[tokio::test]
async fn a_replica_is_alive_while_it_beats_and_not_once_it_left_or_its_beat_ran_out() {
    on_each_backend(
        "a_replica_is_alive_while_it_beats_and_not_once_it_left_or_its_beat_ran_out",
        |s, _url| async move {
            assert!(!s.alive("r1").await.unwrap(), "never seen");
            s.beat("r1", Duration::from_secs(30)).await.unwrap();
            s.beat("r2", Duration::from_millis(300)).await.unwrap();
            assert!(s.alive("r1").await.unwrap());
            assert!(s.alive("r2").await.unwrap());
            tokio::time::sleep(Duration::from_millis(400)).await;
            assert!(!s.alive("r2").await.unwrap(), "its beat ran out");
            assert!(s.alive("r1").await.unwrap(), "the other's did not");
            s.beat("r2", Duration::from_secs(30)).await.unwrap();
            assert!(s.alive("r2").await.unwrap(), "beating again");
            s.leave("r1").await.unwrap();
            assert!(!s.alive("r1").await.unwrap(), "left");
            assert!(s.alive("r2").await.unwrap());
        },
    )
    .await;
}

#[tokio::test]
async fn a_post_is_begun_once_left_in_flight_until_made_and_can_be_forgotten() {
    on_each_backend(
        "a_post_is_begun_once_left_in_flight_until_made_and_can_be_forgotten",
        |s, _url| async move {
            let intent = PostIntent {
                id: "job-7",
                platform: Platform::Slack,
                channel_id: "C1",
                findable: true,
            };
            let before = Utc::now() - chrono::Duration::seconds(1);
            assert_eq!(s.begin_post(&intent).await.unwrap(), PostMark::New);
            // Begun again before it was made: in flight since the first time, as recorded.
            let again = PostIntent {
                findable: false,
                ..intent.clone()
            };
            match s.begin_post(&again).await.unwrap() {
                PostMark::InFlight { since, findable } => {
                    assert!(since > before && since <= Utc::now(), "{since}");
                    assert!(findable, "the first intent's findable is kept");
                }
                other => panic!("expected in flight, got {other:?}"),
            }
            s.finish_post("job-7", Some("1700000000.000100"))
                .await
                .unwrap();
            assert_eq!(s.begin_post(&intent).await.unwrap(), PostMark::Posted);
            let other = PostIntent {
                id: "job-8",
                ..intent.clone()
            };
            assert_eq!(s.begin_post(&other).await.unwrap(), PostMark::New);
            let forgotten = s.forget_posts_before(before).await.unwrap();
            assert_eq!(forgotten, 0, "nothing older than the intents");
            let forgotten = s
                .forget_posts_before(Utc::now() + chrono::Duration::seconds(1))
                .await
                .unwrap();
            assert_eq!(forgotten, 2);
            assert_eq!(s.begin_post(&intent).await.unwrap(), PostMark::New);
        },
    )
    .await;
}

#[tokio::test]
async fn subscriptions_are_upserted_kept_in_order_and_ended() {
    on_each_backend(
        "subscriptions_are_upserted_kept_in_order_and_ended",
        |s, _url| async move {
            let sub = |channel: &str, connector: &str, failures_only| Subscription {
                id: 0,
                platform: Platform::Mattermost,
                channel_id: channel.into(),
                instance: "jira".into(),
                connector: connector.into(),
                connector_name: format!("name of {connector}"),
                failures_only,
                max_deleted: Some(5),
                created_by: "U1".into(),
                created_at: Utc::now(),
            };
            s.subscribe(&sub("C1", "c1", false)).await.unwrap();
            s.subscribe(&sub("C2", "*", false)).await.unwrap();
            s.subscribe(&sub("C1", "c1", true)).await.unwrap();
            let all = s.subscriptions().await.unwrap();
            assert_eq!(all.len(), 2, "the third replaced the first");
            assert_eq!(
                (all[0].channel_id.as_str(), all[0].failures_only),
                ("C1", true)
            );
            assert_eq!(all[1].connector, "*");
            assert!(all[0].id < all[1].id, "oldest first");
            assert_eq!(all[0].platform, Platform::Mattermost);
            assert_eq!(all[0].max_deleted, Some(5));
            assert!(s
                .unsubscribe(Platform::Mattermost, "C1", "jira", "c1")
                .await
                .unwrap());
            assert!(!s
                .unsubscribe(Platform::Mattermost, "C1", "jira", "c1")
                .await
                .unwrap());
            assert_eq!(s.subscriptions().await.unwrap().len(), 1);
        },
    )
    .await;
}

fn new_revision(connector: &str, settings: serde_json::Value) -> NewRevision {
    NewRevision {
        instance: "jira".into(),
        connector_id: connector.into(),
        connector_name: "Okta".into(),
        seen_at: Utc::now(),
        settings,
        changed_by: None,
        changed_by_name: None,
    }
}

#[tokio::test]
async fn revisions_are_added_only_when_settings_change_and_listed_newest_first() {
    on_each_backend(
        "revisions_are_added_only_when_settings_change_and_listed_newest_first",
        |s, _url| async move {
            use serde_json::json;
            let first = s
                .add_revision(&new_revision(
                    "c1",
                    json!({"name": "Okta", "sync": {"pageSize": 100}}),
                ))
                .await
                .unwrap()
                .expect("the first sighting is a revision");
            assert_eq!((first.seq, first.fields.len()), (1, 0));
            assert!(first.announced, "a baseline is never announced");
            assert!(first.is_first() && first.outside_the_bot());
            assert_eq!(
                s.add_revision(&new_revision(
                    "c1",
                    json!({"sync": {"pageSize": 100}, "name": "Okta"})
                ))
                .await
                .unwrap(),
                None,
                "the same settings again are not a revision"
            );
            let mut by_bot = new_revision(
                "c1",
                json!({"name": "Okta", "sync": {"pageSize": 500}, "apiToken": "fingerprint:ab"}),
            );
            by_bot.changed_by = Some("slack:U1".into());
            by_bot.changed_by_name = Some("alice".into());
            let second = s.add_revision(&by_bot).await.unwrap().unwrap();
            assert_eq!(second.seq, 2);
            assert_eq!(second.fields, ["apiToken", "sync.pageSize"]);
            assert!(!second.announced);
            // Another connector counts on its own.
            let other = s
                .add_revision(&new_revision("c2", json!({"name": "Azure"})))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(other.seq, 1);

            let page = s.revisions("jira", "c1", 10).await.unwrap();
            assert_eq!(page.total, 2);
            assert_eq!(
                page.newest,
                vec![second.clone(), first.clone()],
                "newest first, as added"
            );
            let page = s.revisions("jira", "c1", 1).await.unwrap();
            assert_eq!((page.newest.len(), page.total), (1, 2));
            assert_eq!(page.newest[0].seq, 2);
            assert_eq!(
                s.revisions("conf", "c1", 10).await.unwrap(),
                RevisionPage::default()
            );

            assert_eq!(s.revision("jira", "c1", 1).await.unwrap(), Some(first));
            assert_eq!(
                s.revision("jira", "c1", 2)
                    .await
                    .unwrap()
                    .unwrap()
                    .changed_by_name
                    .as_deref(),
                Some("alice")
            );
            assert_eq!(s.revision("jira", "c1", 3).await.unwrap(), None);
            assert_eq!(s.revision("conf", "c1", 1).await.unwrap(), None);

            let pending = s.unannounced_revisions("jira").await.unwrap();
            assert_eq!(
                pending,
                vec![second.clone()],
                "only the change waits to be announced"
            );
            assert!(s.unannounced_revisions("conf").await.unwrap().is_empty());
            s.mark_revision_announced(second.id).await.unwrap();
            assert!(s.unannounced_revisions("jira").await.unwrap().is_empty());
            assert!(
                s.revision("jira", "c1", 2)
                    .await
                    .unwrap()
                    .unwrap()
                    .announced
            );
        },
    )
    .await;
}

#[tokio::test]
async fn concurrent_writers_never_add_the_same_revision_twice() {
    on_each_backend(
        "concurrent_writers_never_add_the_same_revision_twice",
        |s, _url| async move {
            use serde_json::json;
            // Eight writers see the same configuration at once: one revision.
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..8 {
                let s = s.clone();
                set.spawn(async move {
                    s.add_revision(&new_revision("c1", json!({"a": 1})))
                        .await
                        .unwrap()
                });
            }
            let added = set.join_all().await.into_iter().flatten().count();
            assert_eq!(added, 1, "one writer adds it, the others find it there");
            // Eight writers with eight different configurations: eight revisions, numbered
            // without a gap or a repeat.
            let mut set = tokio::task::JoinSet::new();
            for i in 0..8 {
                let s = s.clone();
                set.spawn(async move {
                    s.add_revision(&new_revision("c1", json!({"a": 2 + i})))
                        .await
                        .unwrap()
                });
            }
            assert_eq!(set.join_all().await.into_iter().flatten().count(), 8);
            let page = s.revisions("jira", "c1", 50).await.unwrap();
            let seqs: Vec<u64> = page.newest.iter().rev().map(|r| r.seq).collect();
            assert_eq!(seqs, (1..=9).collect::<Vec<u64>>());
            assert!(page.newest[..8].iter().all(|r| r.fields == ["a"]));
        },
    )
    .await;
}

#[tokio::test]
async fn watcher_progress_announcements_and_outages_are_upserted() {
    on_each_backend(
        "watcher_progress_announcements_and_outages_are_upserted",
        |s, _url| async move {
            assert_eq!(s.handled_sync("jira", "c1").await.unwrap(), None);
            s.set_handled_sync("jira", "c1", 7).await.unwrap();
            s.set_handled_sync("jira", "c1", 9).await.unwrap();
            assert_eq!(s.handled_sync("jira", "c1").await.unwrap(), Some(9));

            let announced = |s: Arc<dyn Store>| async move {
                s.announced(Platform::Slack, "C1", "jira", "c1")
                    .await
                    .unwrap()
            };
            assert_eq!(announced(s.clone()).await, None);
            s.set_announced(Platform::Slack, "C1", "jira", "c1", 3)
                .await
                .unwrap();
            s.set_announced(Platform::Slack, "C1", "jira", "c1", 4)
                .await
                .unwrap();
            assert_eq!(announced(s.clone()).await, Some(4));

            let since = chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05.123456Z")
                .unwrap()
                .with_timezone(&Utc);
            s.set_outage("jira", Some(since - chrono::Duration::hours(1)))
                .await
                .unwrap();
            s.set_outage("jira", Some(since)).await.unwrap();
            assert_eq!(s.outage("jira").await.unwrap(), Some(since));
            s.set_outage("jira", None).await.unwrap();
            assert_eq!(s.outage("jira").await.unwrap(), None);
        },
    )
    .await;
}

#[tokio::test]
async fn the_bot_key_is_made_once_and_the_first_one_stays() {
    on_each_backend(
        "the_bot_key_is_made_once_and_the_first_one_stays",
        |s, _url| async move {
            assert_eq!(s.bot_key("main", "aa").await.unwrap(), "aa");
            assert_eq!(s.bot_key("main", "bb").await.unwrap(), "aa");
            assert_eq!(s.bot_key("other", "cc").await.unwrap(), "cc");
        },
    )
    .await;
}

#[tokio::test]
async fn a_pending_operation_round_trips_and_is_settled_only_once() {
    on_each_backend(
        "a_pending_operation_round_trips_and_is_settled_only_once",
        |s, _url| async move {
            let now = sql::parse_ts(&sql::ts(Utc::now()));
            let p = PendingRecord {
                id: "p1".into(),
                platform: Platform::Mattermost,
                user_id: "u1".into(),
                user_name: Some("alice".into()),
                channel_id: "c1".into(),
                command_text: "/usersync set okta sync.pageSize=500".into(),
                instance: "jira".into(),
                connector_id: "okta-1".into(),
                connector_name: "Okta".into(),
                operation: serde_json::json!({"kind": "merge", "patch": {"a": 1}}),
                fingerprint: "f00".into(),
                created_at: now,
                expires_at: now + chrono::Duration::minutes(2),
                state: PendingState::Pending,
                settled_by: None,
                settled_at: None,
                settled_replica: None,
            };
            s.insert_pending(&p).await.unwrap();
            assert_eq!(s.pending("p1").await.unwrap(), Some(p.clone()));
            assert_eq!(s.pending("nope").await.unwrap(), None);
            assert!(s
                .settle_pending("p1", PendingState::Confirmed, "mattermost:u1", "r1", now)
                .await
                .unwrap());
            assert!(!s
                .settle_pending("p1", PendingState::Cancelled, "mattermost:u1", "r2", now)
                .await
                .unwrap());
            let settled = s.pending("p1").await.unwrap().unwrap();
            assert_eq!(settled.state, PendingState::Confirmed);
            assert_eq!(settled.settled_by.as_deref(), Some("mattermost:u1"));
            assert_eq!(settled.settled_at, Some(now));
            assert_eq!(
                settled.settled_replica.as_deref(),
                Some("r1"),
                "the first settler's"
            );
            // A confirmed one is made once; one never confirmed is not.
            assert!(s.pending_made("p1").await.unwrap());
            assert!(!s.pending_made("p1").await.unwrap());
            assert_eq!(
                s.pending("p1").await.unwrap().unwrap().state,
                PendingState::Made
            );
            let mut other = p.clone();
            other.id = "p2".into();
            s.insert_pending(&other).await.unwrap();
            assert!(!s.pending_made("p2").await.unwrap(), "still pending");
            assert_eq!(
                s.pending("p2").await.unwrap().unwrap().state,
                PendingState::Pending
            );
            // A second insert of the same id is refused, not merged.
            assert!(s.insert_pending(&p).await.is_err());
        },
    )
    .await;
}

#[tokio::test]
async fn approvals_count_each_admin_once_in_order() {
    on_each_backend(
        "approvals_count_each_admin_once_in_order",
        |s, _url| async move {
            let t0 = Utc::now();
            let t1 = t0 + chrono::Duration::seconds(1);
            assert_eq!(s.approvals("p").await.unwrap(), Vec::<String>::new());
            assert_eq!(
                s.approve("p", "slack:U1", t0).await.unwrap(),
                vec!["slack:U1"]
            );
            assert_eq!(
                s.approve("p", "slack:U1", t1).await.unwrap(),
                vec!["slack:U1"]
            );
            assert_eq!(
                s.approve("p", "slack:U2", t1).await.unwrap(),
                vec!["slack:U1", "slack:U2"]
            );
            assert_eq!(s.approvals("other").await.unwrap(), Vec::<String>::new());
            assert!(!s.directory_deleted("jira", "okta", "10200").await.unwrap());
            for _ in 0..2 {
                s.record_deleted_directory("jira", "okta", "10200", "slack:U1", t0)
                    .await
                    .unwrap();
            }
            assert!(s.directory_deleted("jira", "okta", "10200").await.unwrap());
            assert!(!s.directory_deleted("jira", "okta", "10500").await.unwrap());
            assert!(!s.directory_deleted("conf", "okta", "10200").await.unwrap());
        },
    )
    .await;
}

#[tokio::test]
async fn syncs_seen_and_deletion_alerts_round_trip() {
    on_each_backend(
        "syncs_seen_and_deletion_alerts_round_trip",
        |s, _url| async move {
            s.record_sync_seen("jira", "okta", 10, Some(100), Some(0))
                .await
                .unwrap();
            s.record_sync_seen("jira", "okta", 12, Some(90), Some(10))
                .await
                .unwrap();
            s.record_sync_seen("jira", "okta", 12, Some(1), Some(1))
                .await
                .unwrap();
            assert_eq!(
                s.previous_total("jira", "okta", 13).await.unwrap(),
                Some(90)
            );
            assert_eq!(
                s.previous_total("jira", "okta", 12).await.unwrap(),
                Some(100)
            );
            assert_eq!(s.previous_total("jira", "okta", 10).await.unwrap(), None);
            assert_eq!(s.previous_total("conf", "okta", 13).await.unwrap(), None);
            let now = sql::parse_ts(&sql::ts(Utc::now()));
            let alert = DeletionAlert {
                instance: "jira".into(),
                connector_id: "okta".into(),
                connector_name: "Okta".into(),
                sync_id: 12,
                reason: "deleted 10".into(),
                raised_at: now,
                acknowledged_by: None,
            };
            assert!(s.raise_deletion_alert(&alert).await.unwrap());
            assert!(
                !s.raise_deletion_alert(&alert).await.unwrap(),
                "once per sync"
            );
            assert_eq!(
                s.open_deletion_alert("jira", "okta").await.unwrap(),
                Some(alert)
            );
            assert_eq!(
                s.acknowledge_deletion_alerts("jira", "okta", "slack:U1", now)
                    .await
                    .unwrap(),
                1
            );
            assert_eq!(s.open_deletion_alert("jira", "okta").await.unwrap(), None);
            assert_eq!(
                s.acknowledge_deletion_alerts("jira", "okta", "slack:U1", now)
                    .await
                    .unwrap(),
                0
            );
        },
    )
    .await;
}

#[tokio::test]
async fn a_lock_is_taken_once_kept_from_others_until_it_expires_and_removed() {
    on_each_backend(
        "a_lock_is_taken_once_kept_from_others_until_it_expires_and_removed",
        |s, _url| async move {
            let now = sql::parse_ts(&sql::ts(Utc::now()));
            let alice = crate::domain::Principal::new(Platform::Slack, "UALICE");
            let bob = crate::domain::Principal::new(Platform::Mattermost, "bob1");
            let lock =
                |owner: &crate::domain::Principal, at: chrono::DateTime<Utc>, reason: &str| {
                    LockRecord {
                        instance: "jira".into(),
                        connector_id: "okta-1".into(),
                        connector_name: "Okta".into(),
                        owner: owner.clone(),
                        owner_name: Some("someone".into()),
                        reason: reason.into(),
                        created_at: at,
                        expires_at: at + chrono::Duration::hours(2),
                    }
                };
            let first = lock(&alice, now, "migration");
            assert!(s.take_lock(&first, false).await.unwrap());
            assert_eq!(s.locks(now).await.unwrap(), vec![first.clone()]);
            // Someone else's lock in force stays, unless taken over.
            assert!(!s.take_lock(&lock(&bob, now, "mine"), false).await.unwrap());
            assert_eq!(s.locks(now).await.unwrap(), vec![first.clone()]);
            // The owner may lock again (a new reason, a new end).
            let again = lock(&alice, now, "longer migration");
            assert!(s.take_lock(&again, false).await.unwrap());
            assert_eq!(s.locks(now).await.unwrap(), vec![again.clone()]);
            let taken = lock(&bob, now, "admin's");
            assert!(s.take_lock(&taken, true).await.unwrap());
            assert_eq!(s.locks(now).await.unwrap(), vec![taken.clone()]);
            // Expired: no longer listed, and anyone may lock.
            let later = now + chrono::Duration::hours(2);
            assert_eq!(s.locks(later).await.unwrap(), vec![]);
            assert_eq!(
                s.locks(later - chrono::Duration::seconds(1))
                    .await
                    .unwrap()
                    .len(),
                1
            );
            let after = lock(&alice, later, "after");
            assert!(s.take_lock(&after, false).await.unwrap());
            // A lock on every connector is its own target.
            let all = LockRecord {
                instance: String::new(),
                connector_id: EVERY_CONNECTOR.into(),
                connector_name: "every connector".into(),
                owner_name: None,
                ..lock(&bob, later, "all")
            };
            assert!(s.take_lock(&all, false).await.unwrap());
            // Oldest first; at the same time, by target.
            assert_eq!(
                s.locks(later).await.unwrap(),
                vec![all.clone(), after.clone()]
            );
            assert!(s.remove_lock("jira", "okta-1").await.unwrap());
            assert!(!s.remove_lock("jira", "okta-1").await.unwrap());
            assert_eq!(s.locks(later).await.unwrap(), vec![all]);
            assert!(s.remove_lock("", EVERY_CONNECTOR).await.unwrap());
            assert_eq!(s.locks(later).await.unwrap(), vec![]);
        },
    )
    .await;
}

#[tokio::test]
async fn a_protected_alert_is_claimed_once_per_channel_and_sync() {
    on_each_backend(
        "a_protected_alert_is_claimed_once_per_channel_and_sync",
        |s, _url| async move {
            let ops = crate::domain::Principal::new(Platform::Slack, "COPS");
            let mm = crate::domain::Principal::new(Platform::Mattermost, "COPS");
            assert!(s.claim_protected_alert(&ops, "jira", 97).await.unwrap());
            assert!(!s.claim_protected_alert(&ops, "jira", 97).await.unwrap());
            assert!(s.claim_protected_alert(&mm, "jira", 97).await.unwrap());
            assert!(s.claim_protected_alert(&ops, "conf", 97).await.unwrap());
            assert!(s.claim_protected_alert(&ops, "jira", 98).await.unwrap());
            s.release_protected_alert(&ops, "jira", 97).await.unwrap();
            assert!(s.claim_protected_alert(&ops, "jira", 97).await.unwrap());
        },
    )
    .await;
}

#[tokio::test]
async fn a_schema_newer_than_the_binary_is_refused_clearly() {
    on_each_backend(
        "a_schema_newer_than_the_binary_is_refused_clearly",
        |s, url| async move {
            drop(s);
            check(&url)
                .await
                .expect("the schema this binary made is fine");
            // What a newer binary would have left: one more applied migration.
            let future = "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
                      execution_time) SELECT 9999, 'from the future', success, checksum, \
                      execution_time FROM _sqlx_migrations WHERE version = 1";
            match Backend::of_url(&url) {
                Some(Backend::Sqlite) => {
                    let store = SqliteStore::open(&url).await.unwrap();
                    sqlx::query(future).execute(store.pool()).await.unwrap();
                    store.pool().close().await;
                }
                _ => {
                    let store = PostgresStore::open(&url).await.unwrap();
                    sqlx::query(future).execute(store.pool()).await.unwrap();
                    store.pool().close().await;
                }
            }
            let checked = check(&url).await;
            assert!(
                matches!(checked, Err(StoreError::SchemaNewer(9999))),
                "{checked:?}"
            );
            let err = open(&url).await.unwrap_err();
            assert!(matches!(err, StoreError::SchemaNewer(9999)), "{err:?}");
            assert!(
                err.to_string()
                    .starts_with("the database schema is newer than this binary (migration 9999"),
                "{err}"
            );
        },
    )
    .await;
}

#[tokio::test]
async fn an_unreachable_database_is_named_without_its_password() {
    // Port 1 on loopback: nothing listens there.
    for url in [
        "postgres://bob:s3cr%3Ft@127.0.0.1:1/usersync?sslmode=disable",
        "postgresql://bob@127.0.0.1:1/usersync?password=s3cr%3Ft&sslmode=prefer",
    ] {
        let checked = check(url).await;
        assert!(
            matches!(checked, Err(StoreError::Unreachable { .. })),
            "{checked:?}"
        );
        let err = open(url).await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, StoreError::Unreachable { .. }), "{err:?}");
        assert!(
            text.starts_with("cannot reach the database at postgres")
                && text.contains("127.0.0.1:1/usersync:"),
            "{text}"
        );
        assert!(!text.contains("s3cr"), "{text}");
        assert!(!format!("{err:?}").contains("s3cr"), "{err:?}");
    }
}

#[tokio::test]
async fn a_missing_postgres_database_is_named_without_its_password() {
    let Some(db) = fresh_database(RUNS, "a_missing_postgres_database").await else {
        return;
    };
    let mut url = url::Url::parse(&db.url).unwrap();
    url.set_path("usersync_no_such_database");
    url.set_password(Some("hunter2")).unwrap();
    let err = open(url.as_str()).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Unreachable { .. }), "{err:?}");
    assert!(text.contains(":***@"), "{text}");
    assert!(text.contains("usersync_no_such_database"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[tokio::test]
async fn postgres_sslmode_is_honoured_against_the_local_server() {
    let Some(db) = fresh_database(RUNS, "postgres_sslmode").await else {
        return;
    };
    let encrypted = |store: PostgresStore| async move {
        let ssl: Option<bool> =
            sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                .fetch_optional(store.pool())
                .await
                .unwrap();
        store.pool().close().await;
        ssl.unwrap_or(false)
    };
    let server_has_tls = {
        let store = PostgresStore::open(&format!("{}?sslmode=prefer", db.url))
            .await
            .unwrap_or_else(|e| panic!("sslmode=prefer: {e}"));
        assert!(store
            .claim_delivery(Platform::Slack, "prefer", "r1")
            .await
            .unwrap());
        encrypted(store).await
    };
    let plain = PostgresStore::open(&format!("{}?sslmode=disable", db.url))
        .await
        .unwrap_or_else(|e| panic!("sslmode=disable: {e}"));
    assert!(!encrypted(plain).await, "sslmode=disable is not encrypted");
    if server_has_tls {
        // `require` encrypts without checking the certificate (as libpq does).
        let tls = PostgresStore::open(&format!("{}?sslmode=require", db.url))
            .await
            .unwrap_or_else(|e| panic!("sslmode=require: {e}"));
        assert!(encrypted(tls).await, "sslmode=require is encrypted");
    }
}

#[test]
fn storage_urls_are_shown_without_password_or_parameters() {
    assert_eq!(
        redact_url("postgres://bob:pw@db.example:5432/bot?sslmode=require&password=pw"),
        "postgres://bob:***@db.example:5432/bot"
    );
    assert_eq!(
        redact_url("postgresql://db.example/bot"),
        "postgresql://db.example/bot"
    );
    assert_eq!(redact_url("mysql://"), "mysql://");
    assert_eq!(redact_url("nonsense"), "(not a URL)");
    assert_eq!(Backend::of_url("sqlite://x.db"), Some(Backend::Sqlite));
    assert_eq!(Backend::of_url("postgresql://h/d"), Some(Backend::Postgres));
    assert_eq!(Backend::of_url("mysql://h/d"), None);
}

#[tokio::test]
async fn checking_a_sqlite_file_not_made_yet_is_fine_and_does_not_make_it() {
    let path = std::env::temp_dir().join(format!("usersync-bot-check-{}.db", uuid::Uuid::new_v4()));
    check(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    assert!(!path.exists());
    let err = check("mysql://bot:pw@db/bot").await.unwrap_err();
    assert!(!err.to_string().contains("pw@"), "{err}");
}
