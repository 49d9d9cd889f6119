//! A command that changes something is refused up front when its outcome could never be
//! told: no bot token, and a `response_url` that is not allowed (or missing, or not a
//! URL). Nothing is sent upstream; reads still answer inline.

use std::time::Duration;

use crate::support::bot::*;
use crate::support::*;
use usersync_bot::store::Decision;
use usersync_bot::usersync::ApiFlavour;

const REFUSED: &str = "Not started: the outcome could not be posted";

/// A Slack bot without a bot token that allows follow-ups to Slack's own host only.
async fn slack_bot_allowing_only_slack(sim: &usersync_bot::simulator::SimulatorHandle) -> TestBot {
    let mut setup = BotSetup::new(sim);
    setup.response_hosts = vec!["hooks.slack.com".into()];
    setup.start().await
}

#[tokio::test]
async fn a_run_whose_outcome_could_not_be_posted_is_refused_before_anything_is_sent() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(100)).await;
    let bot = slack_bot_allowing_only_slack(&sim).await;
    let slack = FakeSlackHandle::start().await;
    for (user, text) in [
        (OPERATOR, "run okta"),
        (HELPDESK, "user okta jdoe@example.com"),
    ] {
        let reply = bot.say_to(&slack, user, text).await;
        let shown = visible(&reply);
        assert!(shown.contains(REFUSED), "{shown}");
        assert!(
            shown.contains("host 127.0.0.1 is not in response_url_hosts"),
            "the reason is in the answer: {shown}"
        );
        assert_eq!(reply["response_type"], "ephemeral");
    }
    assert!(sim.state().calls().is_empty(), "{:?}", sim.state().calls());
    assert!(bot.bot.app.store.recent_jobs(5).await.unwrap().is_empty());
    let rows = bot.audit_rows(2).await;
    for row in &rows {
        assert_eq!(row.decision, Decision::Allowed, "{row:?}");
        assert!(
            row.outcome.starts_with(&format!("error: {REFUSED}")),
            "{row:?}"
        );
    }
    assert!(slack.received().is_empty());
}

#[tokio::test]
async fn a_malformed_or_missing_response_url_refuses_a_run_too() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(100)).await;
    let bot = slack_bot_allowing_only_slack(&sim).await;
    let mut cmd = Cmd::new(OPERATOR, "run okta");
    cmd.response_url = Some("not a url".into());
    let shown = visible(&bot.command(&cmd).await);
    assert!(
        shown.contains(REFUSED) && shown.contains("not a URL"),
        "{shown}"
    );
    let shown = visible(&bot.say(OPERATOR, "run okta").await);
    assert!(
        shown.contains("the command came without a response_url"),
        "{shown}"
    );
    assert!(sim.state().calls().is_empty());
}

#[tokio::test]
async fn reads_still_answer_inline_with_a_response_url_that_is_not_allowed() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(100)).await;
    let bot = slack_bot_allowing_only_slack(&sim).await;
    let slack = FakeSlackHandle::start().await;
    let shown = visible(&bot.say_to(&slack, VIEWER, "status okta").await);
    assert!(shown.contains("Okta — sync"), "{shown}");
    assert!(!shown.contains(REFUSED));
    assert!(!sim.state().calls().is_empty());
}

#[tokio::test]
async fn with_a_bot_token_the_outcome_has_a_way_and_the_run_starts() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(100)).await;
    let slack = FakeSlackHandle::start().await;
    let mut setup = BotSetup::new(&sim);
    setup.response_hosts = vec!["hooks.slack.com".into()];
    setup.slack_extra = format!(
        "bot_token = \"xoxb-test-token\"\napi_base_url = \"http://{}/api\"",
        slack.addr
    );
    let bot = setup.start().await;
    let shown = visible(&bot.say_to(&slack, OPERATOR, "run okta").await);
    assert!(shown.contains("Sync of Okta started"), "{shown}");
    assert_eq!(calls_with(&sim, "POST"), 1);
}

#[tokio::test]
async fn a_mattermost_run_whose_response_url_is_on_another_server_is_refused() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(100)).await;
    let mm = FakeMattermostHandle::start().await;
    let mut setup = BotSetup::new(&sim);
    setup.mattermost = Some(mm_section(&mm.url(), None));
    setup.roles_extra = format!(", \"mattermost:{MM_OPERATOR}\"");
    let bot = setup.start().await;
    let elsewhere = "https://chat.evil.example/hooks/commands/x";
    let reply = bot
        .mm_say(MM_OPERATOR, MM_OPS_CHANNEL, "run okta", elsewhere)
        .await;
    let text = reply["text"].as_str().unwrap_or_default().to_string();
    assert!(text.contains(REFUSED), "{reply}");
    assert!(
        text.contains("not on the configured Mattermost server"),
        "{reply}"
    );
    assert!(sim.state().calls().is_empty());
    let ok = bot
        .mm_say(
            MM_OPERATOR,
            MM_OPS_CHANNEL,
            "run okta",
            &mm.response_url("ok"),
        )
        .await;
    assert!(ok.to_string().contains("Sync of Okta started"), "{ok}");
}
