//! `/metrics` over real HTTP: every family after one command of each kind, with the
//! labels it promises and values that moved; every name that existed before still there;
//! OpenMetrics when asked for; no label value that carries a secret, an id or a URL.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::changes::slack_token;
use crate::support::bot::*;
use crate::support::*;
use usersync_bot::usersync::ApiFlavour;

/// The routes the bot serves: the only `route` labels there may be, with `unmatched`.
const ROUTES: [&str; 9] = [
    "/slack/commands",
    "/slack/interactions",
    "/mattermost/commands",
    "/mattermost/actions",
    "/mattermost/dialogs",
    "/healthz",
    "/readyz",
    "/metrics",
    "unmatched",
];

/// The `endpoint` labels of the User Sync client.
const ENDPOINTS: [&str; 9] = [
    "connectors",
    "connector",
    "patch",
    "sync",
    "user",
    "syncstatus",
    "sync_by_id",
    "results",
    "directory",
];

/// `/metrics` with `accept`: the content type and the text.
async fn scrape(bot: &TestBot, accept: Option<&str>) -> (String, String) {
    let mut request = bot.http.get(bot.url.replace("/slack/commands", "/metrics"));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (content_type, response.text().await.unwrap())
}

/// The value of one series (`name{labels}` exactly as exposed), if it is there.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// The value of a series that must be there.
fn value(text: &str, series: &str) -> f64 {
    sample(text, series).unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

/// The labels of a sample line, as (name, value).
fn labels(line: &str) -> Vec<(String, String)> {
    let (Some(open), Some(close)) = (line.find('{'), line.rfind('}')) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut rest = &line[open + 1..close];
    while let Some((name, after)) = rest.split_once("=\"") {
        let end = after.find('"').unwrap();
        out.push((
            name.trim_start_matches(',').to_string(),
            after[..end].to_string(),
        ));
        rest = &after[end + 1..];
    }
    out
}

/// A bot with a bot token (so an outcome can go through `chat.postMessage`) and quick
/// jobs.
async fn setup(
    sync_ms: u64,
) -> (
    usersync_bot::simulator::SimulatorHandle,
    FakeSlackHandle,
    TestBot,
) {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(sync_ms)).await;
    let slack = FakeSlackHandle::start().await;
    let mut setup = BotSetup::new(&sim);
    setup.extra =
        "[jobs]\npoll_interval = \"50ms\"\nmax_wait = \"1m\"\nresponse_url_lifetime = \"1s\"\n";
    setup.slack_extra = format!(
        "bot_token = \"xoxb-test-token\"\napi_base_url = \"http://{}/api\"",
        slack.addr
    );
    let bot = setup.start().await;
    (sim, slack, bot)
}

#[tokio::test]
async fn after_one_command_of_each_kind_every_family_is_there_with_its_labels() {
    let (_sim, slack, bot) = setup(1500).await;
    // A read.
    let status = visible(&bot.say(VIEWER, "status okta").await);
    assert!(status.contains("Okta"), "{status}");
    // A run, whose outcome is rate-limited once (a retry) on its way through the Web API.
    slack.slack.rate_limit.store(1, Ordering::SeqCst);
    let run = visible(&bot.command(&run_cmd(&slack, "run okta", "m1")).await);
    assert!(run.contains("Sync of Okta started"), "{run}");
    let following = wait_for("the job to be counted as followed", || async {
        let (_, text) = scrape(&bot, None).await;
        (sample(&text, "usersync_bot_jobs_followed") == Some(1.0)).then_some(text)
    })
    .await;
    assert_eq!(value(&following, "usersync_bot_jobs_held"), 1.0);
    // Denied (a viewer may not run), invalid (no such command), a re-delivery.
    bot.say(VIEWER, "run okta").await;
    bot.say(VIEWER, "frobnicate okta").await;
    let whoami = Cmd::new(VIEWER, "whoami");
    bot.command(&whoami).await;
    bot.command(&whoami).await;
    // A forged signature, a path nobody serves.
    let forged = bot
        .post_signed(&Cmd::new(ADMIN, "whoami").body(), "not-the-secret", now())
        .await;
    assert_eq!(forged.status(), 401);
    // Again, and once too old: each counted in its own series, the second forgery in the
    // same one as the first (the series a refusal finds is kept for the next).
    let again = bot
        .post_signed(&Cmd::new(ADMIN, "whoami").body(), "not-the-secret", now())
        .await;
    assert_eq!(again.status(), 401);
    let stale = bot
        .post_signed(&Cmd::new(ADMIN, "whoami").body(), SECRET, now() - 600)
        .await;
    assert_eq!(stale.status(), 401);
    let nowhere = bot
        .http
        .get(bot.url.replace("/slack/commands", "/nowhere"))
        .send()
        .await
        .unwrap();
    assert_eq!(nowhere.status(), 404);
    // A click: a change proposed, then cancelled.
    let prompt = bot
        .say_to(&slack, ADMIN, "set okta syncSchedule.intervalMinutes=15")
        .await;
    let token = slack_token(&prompt, "usersync_cancel");
    bot.slack_click(&slack, ADMIN, "usersync_cancel", &token, "click1")
        .await;
    wait_outcome(&slack, 1).await;
    let text = wait_for("the job to be over and the retry counted", || async {
        let (_, text) = scrape(&bot, None).await;
        (sample(&text, "usersync_bot_jobs_followed") == Some(0.0)
            && sample(&text, "usersync_bot_jobs_held") == Some(0.0)
            && sample(&text, "usersync_bot_outbox_retries_total") >= Some(1.0))
        .then_some(text)
    })
    .await;

    let (content_type, _) = scrape(&bot, None).await;
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    for (family, kind) in [
        ("http_requests_total", "counter"),
        ("http_request_duration_seconds", "histogram"),
        ("refused_total", "counter"),
        ("commands_total", "counter"),
        ("command_decisions_total", "counter"),
        ("upstream_requests_total", "counter"),
        ("upstream_request_duration_seconds", "histogram"),
        ("jobs_followed", "gauge"),
        ("jobs_held", "gauge"),
        ("watcher_leader", "gauge"),
        ("notifications_posted_total", "counter"),
        ("notifications_failed_total", "counter"),
        ("outbox_retries_total", "counter"),
        ("store_operation_duration_seconds", "histogram"),
        ("build_info", "gauge"),
    ] {
        let line = format!("# TYPE usersync_bot_{family} {kind}\n");
        assert!(text.contains(&line), "{line} in\n{text}");
    }

    // HTTP, by the route matched.
    assert!(
        value(
            &text,
            r#"usersync_bot_http_requests_total{route="/slack/commands",method="POST",status="200"}"#
        ) >= 7.0
    );
    assert_eq!(
        value(
            &text,
            r#"usersync_bot_http_requests_total{route="/slack/commands",method="POST",status="401"}"#
        ),
        3.0
    );
    assert_eq!(
        value(
            &text,
            r#"usersync_bot_http_requests_total{route="/slack/interactions",method="POST",status="200"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"usersync_bot_http_requests_total{route="unmatched",method="GET",status="404"}"#
        ),
        1.0
    );
    assert!(
        value(
            &text,
            r#"usersync_bot_http_request_duration_seconds_count{route="/slack/commands"}"#
        ) >= 10.0
    );
    assert!(
        value(
            &text,
            r#"usersync_bot_http_request_duration_seconds_bucket{le="+Inf",route="/slack/commands"}"#
        ) >= 10.0
    );
    // Refusals, commands and their decisions.
    assert_eq!(
        value(
            &text,
            r#"usersync_bot_refused_total{platform="slack",reason="bad_signature"}"#
        ),
        2.0
    );
    assert_eq!(
        value(
            &text,
            r#"usersync_bot_refused_total{platform="slack",reason="stale_timestamp"}"#
        ),
        1.0
    );
    assert_eq!(value(&text, "usersync_bot_commands_total"), 6.0);
    for (command, decision, n) in [
        ("status", "allowed", 1.0),
        ("run", "allowed", 1.0),
        ("run", "denied", 1.0),
        ("unknown", "invalid", 1.0),
        ("whoami", "allowed", 1.0),
        ("whoami", "duplicate", 1.0),
        ("set", "allowed", 1.0),
    ] {
        let series = format!(
            "usersync_bot_command_decisions_total{{command=\"{command}\",decision=\"{decision}\"}}"
        );
        assert_eq!(value(&text, &series), n, "{series}");
    }
    assert_eq!(value(&text, "usersync_bot_denied_total"), 1.0);
    assert_eq!(value(&text, "usersync_bot_invalid_total"), 1.0);
    assert_eq!(value(&text, "usersync_bot_duplicates_total"), 1.0);
    assert_eq!(value(&text, "usersync_bot_clicks_total"), 1.0);
    assert_eq!(value(&text, "usersync_bot_clicks_refused_total"), 0.0);
    // Upstream, by endpoint template.
    // (The simulator answers a trigger with 204.)
    for (endpoint, status) in [("syncstatus", 200), ("sync", 204), ("connectors", 200)] {
        let series = format!(
            "usersync_bot_upstream_requests_total{{instance=\"jira\",endpoint=\"{endpoint}\",status=\"{status}\"}}"
        );
        assert!(value(&text, &series) >= 1.0, "{series}");
        let series = format!(
            "usersync_bot_upstream_request_duration_seconds_count{{instance=\"jira\",endpoint=\"{endpoint}\"}}"
        );
        assert!(value(&text, &series) >= 1.0, "{series}");
    }
    // The store, by operation.
    for operation in [
        "claim_delivery",
        "insert_leased_job",
        "record_audits",
        "insert_pending",
    ] {
        let series = format!(
            "usersync_bot_store_operation_duration_seconds_count{{operation=\"{operation}\"}}"
        );
        assert!(value(&text, &series) >= 1.0, "{series}");
    }
    // The rest.
    assert!(value(&text, "usersync_bot_outbox_retries_total") >= 1.0);
    assert_eq!(value(&text, "usersync_bot_jobs_held"), 0.0);
    assert_eq!(
        value(
            &text,
            &format!(
                "usersync_bot_build_info{{version=\"{}\"}}",
                env!("CARGO_PKG_VERSION")
            )
        ),
        1.0
    );
    bot.bot.stop().await;
}

#[tokio::test]
async fn every_metric_that_existed_before_is_still_exposed_under_its_name() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let bot = BotSetup::new(&sim).start().await;
    let (content_type, text) = scrape(&bot, None).await;
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    for (name, kind) in [
        ("refused_total", "counter"),
        ("ssl_checks_total", "counter"),
        ("commands_total", "counter"),
        ("denied_total", "counter"),
        ("invalid_total", "counter"),
        ("duplicates_total", "counter"),
        ("deferred_total", "counter"),
        ("followups_sent_total", "counter"),
        ("followups_failed_total", "counter"),
        ("clicks_total", "counter"),
        ("clicks_refused_total", "counter"),
        ("notifications_posted_total", "counter"),
        ("notifications_failed_total", "counter"),
        ("audit_rows_written_total", "counter"),
        ("audit_write_failures_total", "counter"),
        ("audit_backlog", "gauge"),
        ("jobs_held", "gauge"),
        ("watcher_leader", "gauge"),
    ] {
        let full = format!("usersync_bot_{name}");
        assert!(
            text.contains(&format!("# HELP {full} ")),
            "{full} has no HELP in\n{text}"
        );
        assert!(
            text.contains(&format!("# TYPE {full} {kind}\n")),
            "{full} is not a {kind} in\n{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("{full} ")) || l.starts_with(&format!("{full}{{"))),
            "{full} has no sample in\n{text}"
        );
    }
    // Every refusal at 0 from the start, as before.
    assert_eq!(
        value(
            &text,
            r#"usersync_bot_refused_total{platform="mattermost",reason="bad_token"}"#
        ),
        0.0
    );
    assert!(!text.contains("# EOF"), "{text}");
    bot.bot.stop().await;
}

#[tokio::test]
async fn openmetrics_is_served_when_asked_for_and_ends_with_eof() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let bot = BotSetup::new(&sim).start().await;
    bot.say(VIEWER, "whoami").await;
    let (content_type, text) = scrape(
        &bot,
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8,text/plain;q=0.5"),
    )
    .await;
    assert!(
        content_type.starts_with("application/openmetrics-text; version=1.0.0"),
        "{content_type}"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert_eq!(text.matches("# EOF").count(), 1);
    assert!(
        text.contains("# TYPE usersync_bot_commands counter\n"),
        "{text}"
    );
    assert_eq!(value(&text, "usersync_bot_commands_total"), 1.0);
    bot.bot.stop().await;
}

#[tokio::test]
async fn no_label_value_carries_a_secret_an_id_or_a_url() {
    let (_sim, _slack, bot) = setup(50).await;
    bot.say(VIEWER, "status okta").await;
    bot.say(VIEWER, &format!("connector {OKTA}")).await;
    bot.say(VIEWER, "connector nosuchthing").await;
    bot.post_signed(&Cmd::new(ADMIN, "whoami").body(), OLD_SECRET, 0)
        .await;
    bot.post_signed(&Cmd::new(ADMIN, "whoami").body(), "forged", now())
        .await;
    for path in [
        format!("/slack/commands/{OKTA}?token={SECRET}"),
        format!("/metrics/{AZURE}"),
        format!("/{SECRET}"),
    ] {
        let r = bot
            .http
            .get(bot.url.replace("/slack/commands", &path))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    let (_, text) = scrape(&bot, None).await;
    assert!(!text.contains(SECRET), "{text}");
    assert!(!text.contains(OLD_SECRET), "{text}");
    assert!(!text.contains("admin:admin"), "{text}");
    let mut seen = 0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        for (name, value) in labels(line) {
            seen += 1;
            for bad in [OKTA, AZURE, SECRET, "://", "?", "/rest/"] {
                assert!(!value.contains(bad), "{name}={value:?} in {line}");
            }
            match name.as_str() {
                "route" => assert!(ROUTES.contains(&value.as_str()), "{line}"),
                "endpoint" => assert!(ENDPOINTS.contains(&value.as_str()), "{line}"),
                "instance" => assert_eq!(value, "jira", "{line}"),
                "status" => assert!(
                    value.parse::<u16>().is_ok() || value == "timeout" || value == "error",
                    "{line}"
                ),
                _ => {}
            }
        }
    }
    assert!(seen > 50, "{text}");
    assert!(
        value(
            &text,
            r#"usersync_bot_http_requests_total{route="unmatched",method="GET",status="404"}"#
        ) >= 3.0
    );
    assert!(
        value(
            &text,
            r#"usersync_bot_upstream_requests_total{instance="jira",endpoint="connectors",status="200"}"#
        ) >= 1.0
    );
    bot.bot.stop().await;
}
