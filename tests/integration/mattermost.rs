//! The Mattermost front door over real HTTP: token verification, the same commands and
//! roles, native replies, escaping of mentions, follow-ups only to the configured server,
//! re-delivery, and job following with a fake Mattermost server.

use std::time::Duration;

use crate::support::bot::*;
use crate::support::*;
use serde_json::Value;
use usersync_bot::chat::Refusal;
use usersync_bot::domain::Platform;
use usersync_bot::simulator::{Faults, SimulatorHandle};
use usersync_bot::store::Decision;
use usersync_bot::usersync::ApiFlavour;

const MM_VIEWER: &str = "mmsomeoneuser";

async fn setup(
    sync_ms: u64,
    jobs: &str,
    bot_token: Option<&str>,
) -> (SimulatorHandle, FakeMattermostHandle, TestBot) {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(sync_ms)).await;
    let mm = FakeMattermostHandle::start().await;
    let mut setup = BotSetup::new(&sim);
    setup.mattermost = Some(mm_section(&mm.url(), bot_token));
    setup.roles_extra = format!(", \"mattermost:{MM_OPERATOR}\"");
    setup.extra = Box::leak(format!("[jobs]\n{jobs}\n").into_boxed_str());
    let bot = setup.start().await;
    (sim, mm, bot)
}

const FAST: &str = "poll_interval = \"50ms\"\nmax_wait = \"1m\"";

/// Everything a person reads in a Mattermost reply: text and attachment fields.
fn shown(reply: &Value) -> String {
    let mut out = reply["text"].as_str().unwrap_or_default().to_string();
    for a in reply["attachments"].as_array().into_iter().flatten() {
        for f in a["fields"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "\n{}: {}",
                f["title"].as_str().unwrap_or(""),
                f["value"].as_str().unwrap_or("")
            ));
        }
    }
    out
}

#[tokio::test]
async fn a_real_mattermost_request_is_answered_natively() {
    let (sim, mm, bot) = setup(100, FAST, None).await;
    let reply = bot
        .mm_say(MM_VIEWER, "chan1", "status okta", &mm.response_url("h1"))
        .await;
    assert_eq!(reply["response_type"], "ephemeral");
    assert_eq!(reply["skip_slack_parsing"], true);
    let text = shown(&reply);
    assert!(
        text.starts_with("#### ⚠️ Okta — sync 92: DONE · SUCCESS"),
        "{text}"
    );
    assert!(text.contains("\nTotal: 18"), "{text}");
    assert_eq!(reply["attachments"][0]["color"], "#e9a820");
    assert_eq!(sim.state().calls().len(), 2);
    let rows = bot.audit_rows(1).await;
    assert_eq!(rows[0].platform, Platform::Mattermost);
    assert_eq!(rows[0].user_id, MM_VIEWER);
    assert_eq!(rows[0].command_text, "/usersync status okta");
}

#[tokio::test]
async fn the_form_token_is_authoritative_and_any_configured_token_works() {
    let (sim, mm, bot) = setup(100, FAST, None).await;
    let url = mm.response_url("t");
    // An outgoing OAuth connection may have replaced the header: the form decides.
    let r = bot
        .mattermost(
            &mm_form(MM_VIEWER, "c", "whoami", &url, "tr1"),
            Some("oauth-access-token"),
        )
        .await;
    assert_eq!(r.status(), 200);
    let mut old = mm_form(MM_VIEWER, "c", "whoami", &url, "tr2");
    old.retain(|(k, _)| *k != "token");
    old.push(("token", "old-mm-token"));
    assert_eq!(bot.mattermost(&old, None).await.status(), 200);

    // A right header does not make up for a wrong or missing form token.
    let mut wrong = mm_form(MM_VIEWER, "c", "run okta", &url, "tr3");
    wrong.retain(|(k, _)| *k != "token");
    let r = bot.mattermost(&wrong, Some(MM_TOKEN)).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.text().await.unwrap(), "missing token");
    wrong.push(("token", "mm-command-token-2"));
    let r = bot.mattermost(&wrong, Some(MM_TOKEN)).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.text().await.unwrap(), "invalid token");
    assert_eq!(
        bot.bot
            .app
            .metrics
            .refusals(Platform::Mattermost, Refusal::BadToken),
        1
    );
    assert_eq!(
        bot.bot
            .app
            .metrics
            .refusals(Platform::Mattermost, Refusal::MissingToken),
        1
    );
    // Only the two whoami commands ran; nothing went upstream.
    assert!(sim.state().calls().is_empty());
    assert_eq!(bot.audit_rows(2).await.len(), 2);
}

#[tokio::test]
async fn oversized_and_non_form_requests_are_refused() {
    let (sim, mm, bot) = setup(100, FAST, None).await;
    let big = "x".repeat(70 * 1024);
    let url = mm.response_url("t");
    let r = bot
        .mattermost(
            &mm_form(MM_OPERATOR, MM_OPS_CHANNEL, &big, &url, "t1"),
            Some(MM_TOKEN),
        )
        .await;
    assert_eq!(r.status(), 413);
    let r = bot
        .http
        .post(bot.url.replace("/slack/commands", "/mattermost/commands"))
        .header("content-type", "application/json")
        .body(r#"{"token":"mm-command-token-1","text":"run okta","user_id":"u","channel_id":"c"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert_nothing_happened(&sim, &bot).await;
}

#[tokio::test]
async fn roles_use_mattermost_principals_and_channels() {
    let (sim, mm, bot) = setup(30_000, FAST, None).await;
    let url = mm.response_url("r");
    let denied = shown(
        &bot.mm_say(MM_VIEWER, MM_OPS_CHANNEL, "run okta", &url)
            .await,
    );
    assert!(
        denied.contains("needs the operator role; you have the viewer role."),
        "{denied}"
    );
    // A Slack principal with the same id is someone else.
    let elsewhere = shown(
        &bot.mm_say(MM_OPERATOR, "otherchannel", "run okta", &url)
            .await,
    );
    assert!(
        elsewhere.contains("is allowed only in these channels"),
        "{elsewhere}"
    );
    assert!(sim.state().calls().is_empty());
    let ok = bot
        .mm_say(MM_OPERATOR, MM_OPS_CHANNEL, "run okta", &url)
        .await;
    assert_eq!(ok["response_type"], "in_channel");
    let started = shown(&ok);
    assert!(
        started.contains("Sync of Okta started by @") && started.contains("mmtester"),
        "{started}"
    );
    let rows = bot.audit_rows(3).await;
    assert_eq!(
        rows.iter()
            .filter(|r| r.decision == Decision::Denied)
            .count(),
        2
    );
}

#[tokio::test]
async fn nobody_can_make_the_bot_mention_or_link() {
    let (_sim, mm, bot) = setup(100, FAST, None).await;
    let url = mm.response_url("e");
    for text in [
        "status @channel",
        "status @all",
        "status @here",
        "status @alice",
        "status [x](https://evil.example)",
        "status <!channel>",
        "@here",
    ] {
        let reply = bot.mm_say(MM_VIEWER, "c", text, &url).await;
        // An escaped bracket (`\]`) cannot close a link; drop those before looking.
        let raw = reply.to_string().replace("\\\\]", "");
        for forbidden in [
            "@channel",
            "@all",
            "@here",
            "@alice",
            "](https",
            "https://evil",
            "<!channel>",
        ] {
            assert!(
                !raw.contains(forbidden),
                "{forbidden} in the reply to {text}: {raw}"
            );
        }
    }
}

#[tokio::test]
async fn help_and_mistakes_read_the_same_as_on_slack() {
    let (_sim, mm, bot) = setup(100, FAST, None).await;
    let url = mm.response_url("h");
    let help = shown(&bot.mm_say(MM_OPERATOR, MM_OPS_CHANNEL, "help", &url).await);
    assert!(help.contains("usersync help — what you can do"), "{help}");
    assert!(
        help.contains("`/usersync run <connector> [--local]`"),
        "{help}"
    );
    let typo = shown(&bot.mm_say(MM_VIEWER, "c", "stauts okta", &url).await);
    assert!(typo.contains("Did you mean \\`status\\`?"), "{typo}");
}

#[tokio::test]
async fn a_redelivered_request_runs_once() {
    let (sim, mm, bot) = setup(100, FAST, None).await;
    let url = mm.response_url("d");
    let form = mm_form(MM_VIEWER, "c", "status okta", &url, "same-trigger");
    let first: Value = bot
        .mattermost(&form, Some(MM_TOKEN))
        .await
        .json()
        .await
        .unwrap();
    let second: Value = bot
        .mattermost(&form, Some(MM_TOKEN))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first, second);
    assert_eq!(sim.state().calls().len(), 2);
}

#[tokio::test]
async fn slow_reads_follow_up_only_to_the_configured_server() {
    let (sim, mm, bot) = setup(100, FAST, None).await;
    let mut setup2 = BotSetup::new(&sim);
    setup2.mattermost = Some(mm_section(&mm.url(), None));
    setup2.inline_budget = "200ms";
    let bot2 = setup2.start().await;
    drop(bot);
    sim.state().set_faults(Faults {
        latency_ms: 400,
        ..Faults::default()
    });
    let ack = shown(
        &bot2
            .mm_say(MM_VIEWER, "c", "status okta", &mm.response_url("slow"))
            .await,
    );
    assert!(ack.contains("Working on it…"), "{ack}");
    let got = wait_for("the follow-up", || async {
        let r = mm.received();
        (!r.is_empty()).then_some(r)
    })
    .await;
    assert_eq!(got[0].1, "/hooks/commands/slow");
    assert!(
        shown(&got[0].3).contains("Okta — sync 92"),
        "{:?}",
        got[0].3
    );

    // A response_url elsewhere is refused: nothing is posted there.
    let other = FakeMattermostHandle::start().await;
    bot2.mm_say(MM_VIEWER, "c", "status okta", &other.response_url("ssrf"))
        .await;
    bot2.wait_failed_followups(1).await;
    assert!(other.received().is_empty());
}

#[tokio::test]
async fn a_job_started_from_mattermost_posts_its_outcome_through_response_url() {
    let (_sim, mm, bot) = setup(300, FAST, None).await;
    bot.mm_say(
        MM_OPERATOR,
        MM_OPS_CHANNEL,
        "run okta",
        &mm.response_url("job"),
    )
    .await;
    let got = wait_for("the outcome", || async {
        let r: Vec<_> = mm
            .received()
            .into_iter()
            .filter(|(_, _, _, b)| shown(b).contains("Sync of Okta finished"))
            .collect();
        (!r.is_empty()).then_some(r)
    })
    .await;
    assert_eq!(got.len(), 1);
    let (method, path, _, body) = &got[0];
    assert_eq!(
        (method.as_str(), path.as_str()),
        ("POST", "/hooks/commands/job")
    );
    assert_eq!(body["response_type"], "in_channel");
    assert!(shown(body).contains("Failed users (2)"), "{}", shown(body));
    assert!(
        mm.received()
            .iter()
            .all(|(_, p, _, _)| !p.starts_with("/api/")),
        "no bot token, no REST calls"
    );
}

#[tokio::test]
async fn with_a_bot_token_progress_is_edited_in_place_and_late_outcomes_use_the_rest_api() {
    let (sim, mm, bot) = setup(
        800,
        "poll_interval = \"50ms\"\nmax_wait = \"1m\"\nresponse_url_lifetime = \"1s\"",
        Some("mm-bot-token"),
    )
    .await;
    // The response_url is taken as expired at once (lifetime 1 s less a minute's margin).
    bot.mm_say(
        MM_OPERATOR,
        MM_OPS_CHANNEL,
        "run azure",
        &mm.response_url("late"),
    )
    .await;
    let done = wait_for("the outcome", || async {
        let r: Vec<_> = mm
            .received()
            .into_iter()
            .filter(|(_, _, _, b)| {
                b["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("Sync of Azure AD finished"))
                    || shown(b).contains("Sync of Azure AD finished")
            })
            .collect();
        (!r.is_empty()).then_some(r)
    })
    .await;
    assert_eq!(done.len(), 1);
    let all = mm.received();
    // Progress: one post created with the bot token, then patched in place.
    let progress_posts: Vec<_> = all
        .iter()
        .filter(|(m, p, _, b)| {
            m == "POST"
                && p == "/api/v4/posts"
                && b["message"]
                    .as_str()
                    .is_some_and(|t| t.contains("users so far"))
        })
        .collect();
    assert_eq!(progress_posts.len(), 1, "{all:?}");
    assert_eq!(progress_posts[0].2.as_deref(), Some("Bearer mm-bot-token"));
    assert_eq!(progress_posts[0].3["channel_id"], MM_OPS_CHANNEL);
    assert!(all
        .iter()
        .all(|(m, p, _, _)| m != "PUT" || p == "/api/v4/posts/post0abc/patch"));
    let outcome = &done[0];
    assert_eq!(
        (outcome.0.as_str(), outcome.1.as_str()),
        ("POST", "/api/v4/posts")
    );
    assert_eq!(outcome.2.as_deref(), Some("Bearer mm-bot-token"));
    assert_eq!(outcome.3["channel_id"], MM_OPS_CHANNEL);
    assert!(outcome.3["props"]["attachments"][0]["fields"].is_array());
    assert!(
        all.iter().all(|(_, p, _, _)| !p.starts_with("/hooks/")),
        "the expired response_url was not used"
    );
    let _ = sim;
}

#[tokio::test]
async fn a_restart_in_the_middle_of_a_mattermost_job_posts_the_outcome_once() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(1200)).await;
    let mm = FakeMattermostHandle::start().await;
    let db = temp_db();
    let start = |db: std::path::PathBuf| {
        let mut setup = BotSetup::new(&sim);
        setup.db = db;
        setup.mattermost = Some(mm_section(&mm.url(), None));
        setup.roles_extra = format!(", \"mattermost:{MM_OPERATOR}\"");
        setup.extra = Box::leak(format!("[jobs]\n{FAST}\n").into_boxed_str());
        setup.start()
    };
    let bot = start(db.clone()).await;
    bot.mm_say(
        MM_OPERATOR,
        MM_OPS_CHANNEL,
        "run okta",
        &mm.response_url("restart"),
    )
    .await;
    wait_for("the job to know its sync", || async {
        bot.bot.app.store.recent_jobs(1).await.unwrap()[0]
            .sync_id
            .map(|_| ())
    })
    .await;
    bot.bot.stop().await;
    let bot = start(db).await;
    let finished = || {
        mm.received()
            .into_iter()
            .filter(|(_, _, _, b)| shown(b).contains("Sync of Okta finished"))
            .count()
    };
    wait_for("the outcome", || async { (finished() == 1).then_some(()) }).await;
    let job = bot.wait_job_over().await;
    assert_eq!(job.state, usersync_bot::store::JobState::Done);
    assert_eq!(job.delivery, usersync_bot::store::Delivery::Posted);
    assert_eq!(finished(), 1, "exactly one outcome");
    let triggers = calls_with(&sim, "POST");
    assert_eq!(triggers, 1);
    drop(bot);
}
