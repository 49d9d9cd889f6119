//! Locks, change freezes and protected accounts over real HTTP, on both platforms: a lock
//! refuses everyone but its owner and admins (and nothing is sent to the product), expires
//! on its own, shows in `status`, `jobs` and `locks`; a `[[freeze]]` refuses like a lock
//! held by nobody; `user` refuses a protected account; a sync that deletes or fails one
//! raises one alert per channel.

use std::time::Duration;

use serde_json::{json, Value};
use usersync_bot::chat::slack::verify::sign;
use usersync_bot::simulator::{SimulatorHandle, SyncOrigin, UserUpdate};
use usersync_bot::store::Decision;
use usersync_bot::usersync::ApiFlavour;

use crate::support::bot::*;
use crate::support::*;

/// A second operator, who does not own the locks of the first.
const OTHER_OPERATOR: &str = "U0ONCALL2";
/// Where the failures route of the protected-account tests posts.
const CFAIL: &str = "C0FAILURES";

const FAST_JOBS: &str = "[jobs]\npoll_interval = \"50ms\"\nmax_wait = \"1m\"\n";

async fn bot_with(sim: &SimulatorHandle, slack: &FakeSlackHandle, extra: String) -> TestBot {
    let mut setup = BotSetup::new(sim);
    setup.roles_extra = format!(", \"slack:{OTHER_OPERATOR}\"");
    setup.slack_extra = format!(
        "bot_token = \"xoxb-locks\"\napi_base_url = \"http://{}/api\"",
        slack.addr
    );
    setup.extra = Box::leak(format!("{FAST_JOBS}{extra}").into_boxed_str());
    setup.start().await
}

/// A command from `user`, whose name Slack sends as `name`, with follow-ups to `slack`.
async fn say_as(
    bot: &TestBot,
    slack: &FakeSlackHandle,
    user: &str,
    name: &str,
    text: &str,
) -> Value {
    let mut cmd = Cmd::new(user, text);
    cmd.user_name = name;
    cmd.response_url = Some(slack.response_url(&format!("r{}", fastrand::u32(..))));
    bot.command(&cmd).await
}

/// `alice` (an operator), `bob` (another operator), `admin`, `helpdesk`.
struct People<'a> {
    bot: &'a TestBot,
    slack: &'a FakeSlackHandle,
}

impl People<'_> {
    async fn alice(&self, text: &str) -> String {
        visible(&say_as(self.bot, self.slack, OPERATOR, "alice", text).await)
    }
    async fn bob(&self, text: &str) -> String {
        visible(&say_as(self.bot, self.slack, OTHER_OPERATOR, "bob", text).await)
    }
    async fn admin(&self, text: &str) -> String {
        visible(&say_as(self.bot, self.slack, ADMIN, "root", text).await)
    }
    async fn helpdesk(&self, text: &str) -> String {
        visible(&say_as(self.bot, self.slack, HELPDESK, "helen", text).await)
    }
}

fn posts_to_sim(sim: &SimulatorHandle) -> usize {
    calls_with(sim, "POST") + calls_with(sim, "PATCH") + calls_with(sim, "DELETE")
}

/// The newest audit row of a command text.
async fn audited(bot: &TestBot, text: &str) -> usersync_bot::store::AuditEntry {
    let wanted = format!("/usersync {text}");
    bot.audited_probe()
        .await
        .into_iter()
        .find(|r| r.command_text == wanted)
        .unwrap_or_else(|| panic!("no audit row for {wanted:?}"))
}

#[tokio::test]
async fn a_lock_refuses_others_and_lets_its_owner_and_admins_pass() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let bot = bot_with(&sim, &slack, String::new()).await;
    let p = People {
        bot: &bot,
        slack: &slack,
    };

    let reply = say_as(
        &bot,
        &slack,
        OPERATOR,
        "alice",
        "lock okta 2h \"Okta tenant migration\"",
    )
    .await;
    assert_eq!(
        reply["response_type"], "in_channel",
        "the channel sees a lock"
    );
    let text = visible(&reply);
    assert!(text.contains("🔒 Okta locked until"), "{text}");
    assert!(
        text.contains("Only @alice and admins may use user, run, set, patch, rollback, delete-directory on Okta until then: Okta tenant migration"),
        "{text}"
    );

    // Someone else is refused, with the reason, who and until when; nothing is sent.
    sim.state().clear_calls();
    let text = p.bob("run okta").await;
    assert!(text.contains("Not done: Okta is locked"), "{text}");
    assert!(
        text.contains("Okta is locked by @alice until ")
            && text.contains(" UTC: Okta tenant migration"),
        "{text}"
    );
    assert!(text.contains("Nothing was sent to the product."), "{text}");
    let text = p.helpdesk("user okta alice.anderson").await;
    assert!(text.contains("Not done: Okta is locked"), "{text}");
    assert_eq!(posts_to_sim(&sim), 0, "{:?}", sim.state().calls());
    let row = audited(&bot, "run okta").await;
    assert_eq!(row.decision, Decision::Denied);
    assert!(
        row.outcome.starts_with("refused: Not done: Okta is locked"),
        "{}",
        row.outcome
    );

    // The lock is on Okta only.
    let text = p.bob("run azure").await;
    assert!(text.contains("Sync of Azure AD started by @bob"), "{text}");
    bot.wait_job_over().await;

    // Its owner passes without a word about it.
    let text = p.alice("run okta").await;
    assert!(text.contains("Sync of Okta started by @alice"), "{text}");
    assert!(!text.contains("You acted as an admin"), "{text}");
    bot.wait_job_over().await;

    // An admin passes, and is told.
    let text = p.admin("run okta").await;
    assert!(text.contains("Sync of Okta started by @root"), "{text}");
    assert!(
        text.contains("🔒 You acted as an admin although Okta is locked by @alice until "),
        "{text}"
    );
    bot.wait_job_over().await;
    let row = audited(&bot, "run okta").await;
    assert_eq!(row.decision, Decision::Allowed);
    assert!(
        row.outcome.ends_with("(an admin, past a lock or freeze)"),
        "{}",
        row.outcome
    );

    // status, jobs and locks show it.
    let text = p.helpdesk("status okta").await;
    assert!(
        text.contains("🔒 Okta is locked by @alice until ")
            && text.contains("Okta tenant migration"),
        "{text}"
    );
    let text = p.helpdesk("status azure").await;
    assert!(!text.contains("locked"), "{text}");
    let text = p.helpdesk("jobs").await;
    assert!(text.contains("Locks and freezes in force"), "{text}");
    assert!(text.contains("Okta* — locked by @alice until "), "{text}");
    let text = p.helpdesk("locks").await;
    assert!(text.contains("Locks and freezes: 1 in force"), "{text}");
    assert!(text.contains("Okta* — locked by @alice until "), "{text}");

    // Only the owner or an admin ends it.
    let text = p.bob("unlock okta").await;
    assert!(
        text.contains("Not unlocked: Okta is @alice's lock"),
        "{text}"
    );
    let text = p.alice("unlock okta").await;
    assert!(text.contains("🔓 Okta unlocked"), "{text}");
    assert!(
        text.contains("The lock of @alice (Okta tenant migration) was ended by @alice."),
        "{text}"
    );
    let text = p.alice("unlock okta").await;
    assert!(text.contains("Okta is not locked"), "{text}");
    let text = p.bob("run okta").await;
    assert!(text.contains("Sync of Okta started by @bob"), "{text}");
    bot.wait_job_over().await;
    let text = p.helpdesk("locks").await;
    assert!(
        text.contains("No lock or change freeze is in force"),
        "{text}"
    );
}

#[tokio::test]
async fn a_lock_is_kept_from_others_taken_over_by_an_admin_and_expires_on_its_own() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let bot = bot_with(&sim, &slack, String::new()).await;
    let p = People {
        bot: &bot,
        slack: &slack,
    };
    for (text, problem) in [
        ("lock okta 0s why", "A lock lasts longer than zero"),
        ("lock okta 8d why", "A lock lasts at most 7 days"),
        ("lock okta 2h", "Missing ‹reason›."),
    ] {
        let got = p.alice(text).await;
        assert!(got.contains(problem), "{text}: {got}");
    }
    let text = p.helpdesk("lock okta 2h mine").await;
    assert!(
        text.contains("operator"),
        "a helpdesk agent cannot lock: {text}"
    );

    assert!(p
        .alice("lock okta 2h migration")
        .await
        .contains("Okta locked until"));
    let text = p.bob("lock okta 1h mine").await;
    assert!(text.contains("Okta is already locked"), "{text}");
    assert!(text.contains("Okta is locked by @alice until "), "{text}");
    // Its owner may lock it again, with a new reason.
    let text = p.alice("lock okta 3h longer migration").await;
    assert!(text.contains("Okta locked until"), "{text}");
    assert!(!text.contains("This replaces"), "{text}");
    // An admin takes it over.
    let text = p.admin("lock okta 1h audit").await;
    assert!(text.contains("Only @root and admins may use"), "{text}");
    assert!(
        text.contains("This replaces the lock of @alice (longer migration)."),
        "{text}"
    );
    let text = p.alice("run okta").await;
    assert!(text.contains("Okta is locked by @root until "), "{text}");
    let text = p.admin("unlock okta").await;
    assert!(text.contains("🔓 Okta unlocked"), "{text}");
    // An admin ends someone else's lock too.
    assert!(p
        .bob("lock okta 2h rollout")
        .await
        .contains("Okta locked until"));
    let text = p.admin("unlock okta").await;
    assert!(
        text.contains("The lock of @bob (rollout) was ended by @root."),
        "{text}"
    );

    // A short lock stops counting by itself, and is no longer listed.
    let text = p.alice("lock azure 1s short").await;
    assert!(text.contains("Azure AD locked until"), "{text}");
    assert!(p
        .bob("run azure")
        .await
        .contains("Not done: Azure AD is locked"));
    wait_for("the short lock to expire", || async {
        let text = p.helpdesk("locks").await;
        text.contains("No lock or change freeze is in force")
            .then_some(())
    })
    .await;
    let text = p.bob("run azure").await;
    assert!(text.contains("Sync of Azure AD started by @bob"), "{text}");
    bot.wait_job_over().await;
    let text = p.bob("unlock azure").await;
    assert!(text.contains("Azure AD is not locked"), "{text}");
}

/// The token of a Slack prompt's button.
fn slack_token(reply: &Value, action_id: &str) -> String {
    reply["blocks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .find(|e| e["action_id"] == action_id)
        .and_then(|e| e["value"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no {action_id} button in {reply}"))
}

/// Clicks a prompt's button as Slack would, and waits for the answer posted to
/// `slack`'s response_url `id`.
async fn slack_click(
    bot: &TestBot,
    slack: &FakeSlackHandle,
    user: &str,
    token: &str,
    id: &str,
) -> Value {
    let payload = json!({
        "type": "block_actions",
        "user": {"id": user, "username": "root", "name": "root", "team_id": "T0001"},
        "api_app_id": "A123456",
        "token": "deprecated-verification-token",
        "container": {"type": "message", "message_ts": "1.2", "channel_id": OPS_CHANNEL, "is_ephemeral": true},
        "trigger_id": format!("click.{}", fastrand::u64(..)),
        "team": {"id": "T0001", "domain": "example"},
        "channel": {"id": OPS_CHANNEL, "name": "ops"},
        "response_url": slack.response_url(id),
        "actions": [{"action_id": "usersync_confirm", "block_id": "b", "value": token, "type": "button",
                     "text": {"type": "plain_text", "text": "Confirm"}, "action_ts": "1.3"}],
    });
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("payload", &payload.to_string());
    let body = form.finish();
    let ts = now();
    let status = bot
        .http
        .post(bot.url.replace("/slack/commands", "/slack/interactions"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts.to_string())
        .header("x-slack-signature", sign(SECRET, ts, body.as_bytes()))
        .body(body)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    let path = format!("/commands/T0001/{id}");
    wait_for("the click's answer", || async {
        slack
            .received()
            .into_iter()
            .find(|(p, _)| *p == path)
            .map(|(_, b)| b)
    })
    .await
}

#[tokio::test]
async fn a_lock_on_every_connector_holds_them_all_and_set_is_checked_at_prompt_and_click() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let bot = bot_with(&sim, &slack, String::new()).await;
    let p = People {
        bot: &bot,
        slack: &slack,
    };
    // A prompt shown before any lock…
    let before = say_as(
        &bot,
        &slack,
        ADMIN,
        "root",
        "set okta syncSchedule.intervalMinutes=15",
    )
    .await;
    assert!(!visible(&before).contains("You acted as an admin"));

    let text = p.alice("lock * 1h \"release weekend\"").await;
    assert!(text.contains("🔒 every connector locked until"), "{text}");
    sim.state().clear_calls();
    for connector in ["okta", "azure"] {
        let text = p.bob(&format!("run {connector}")).await;
        assert!(
            text.contains("is locked by @alice until ")
                && text.contains("(a lock on every connector): release weekend"),
            "{text}"
        );
    }
    assert_eq!(posts_to_sim(&sim), 0);

    // `set` (admins only) passes, with the notice, at the prompt…
    let prompt = say_as(
        &bot,
        &slack,
        ADMIN,
        "root",
        "set okta syncSchedule.intervalMinutes=20",
    )
    .await;
    let text = visible(&prompt);
    assert!(text.contains("Change Okta?"), "{text}");
    assert!(
        text.contains("🔒 You acted as an admin although Okta is locked by @alice until "),
        "{text}"
    );
    assert_eq!(
        calls_with(&sim, "PATCH"),
        0,
        "nothing is sent before the click"
    );
    // …and the lock is checked again at the click, also for a prompt made before it.
    let answer = slack_click(
        &bot,
        &slack,
        ADMIN,
        &slack_token(&before, "usersync_confirm"),
        "c1",
    )
    .await;
    let text = visible(&answer);
    assert!(text.contains("Okta changed"), "{text}");
    assert!(
        text.contains("🔒 You acted as an admin although Okta is locked by @alice until "),
        "{text}"
    );
    assert_eq!(calls_with(&sim, "PATCH"), 1);

    let text = p.bob("unlock *").await;
    assert!(
        text.contains("Not unlocked: every connector is @alice's lock"),
        "{text}"
    );
    let text = p.alice("unlock *").await;
    assert!(text.contains("🔓 every connector unlocked"), "{text}");
    let text = p.bob("run okta").await;
    assert!(text.contains("Sync of Okta started by @bob"), "{text}");
    bot.wait_job_over().await;
}

#[tokio::test]
async fn a_freeze_refuses_like_a_lock_held_by_nobody_and_an_admin_is_told() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let at = |hours: i64| {
        (chrono::Utc::now() + chrono::Duration::hours(hours))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let freezes = format!(
        "[[freeze]]\nconnectors = [\"okta\"]\nfrom = \"{}\"\nuntil = \"{}\"\nreason = \"Year-end change freeze\"\n\
         [[freeze]]\ninstance = \"jira\"\nconnectors = [\"Azure AD\"]\nfrom = \"{}\"\nuntil = \"{}\"\nreason = \"Tenant move\"\n",
        at(-1),
        at(1),
        at(24),
        at(48),
    );
    let bot = bot_with(&sim, &slack, freezes).await;
    let p = People {
        bot: &bot,
        slack: &slack,
    };
    sim.state().clear_calls();
    let text = p.alice("run okta").await;
    assert!(text.contains("Not done: Okta is frozen"), "{text}");
    assert!(
        text.contains("Okta is frozen until ")
            && text
                .contains("(a change freeze of the bot's configuration): Year-end change freeze"),
        "{text}"
    );
    assert!(
        text.contains(
            "Only admins may use user, run, set, patch, rollback, delete-directory on it"
        ),
        "{text}"
    );
    assert_eq!(posts_to_sim(&sim), 0);
    // Even a lock's owner is refused by a freeze.
    assert!(p
        .alice("lock okta 1h mine")
        .await
        .contains("Okta locked until"));
    assert!(p
        .alice("run okta")
        .await
        .contains("Not done: Okta is frozen"));

    let text = p.admin("run okta").await;
    assert!(text.contains("Sync of Okta started by @root"), "{text}");
    // Told of both: alice's lock and the freeze.
    assert!(
        text.contains("🔒 You acted as an admin although Okta is locked by @alice until ")
            && text.contains("; and Okta is frozen until "),
        "{text}"
    );
    bot.wait_job_over().await;

    // A freeze to come holds nothing yet, and is listed as such.
    let text = p.bob("run azure").await;
    assert!(text.contains("Sync of Azure AD started by @bob"), "{text}");
    bot.wait_job_over().await;
    let text = p.helpdesk("locks").await;
    assert!(text.contains("Locks and freezes: 2 in force"), "{text}");
    assert!(
        text.contains("okta* — frozen until ") && text.contains("Year-end change freeze"),
        "{text}"
    );
    assert!(text.contains("Freezes to come"), "{text}");
    assert!(text.contains("Azure AD (jira)* — frozen from "), "{text}");
    let text = p.helpdesk("status okta").await;
    assert!(
        text.contains("🔒 Okta is locked by @alice until ")
            && text.contains("; and Okta is frozen until "),
        "{text}"
    );
    let text = p.helpdesk("status azure").await;
    assert!(
        !text.contains("frozen"),
        "a freeze to come holds nothing yet: {text}"
    );
}

#[tokio::test]
async fn mattermost_is_refused_on_a_locked_connector_and_a_protected_account_too() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let mm = FakeMattermostHandle::start().await;
    let mut setup = BotSetup::new(&sim);
    setup.mattermost = Some(mm_section(&mm.url(), None));
    setup.roles_extra = format!(", \"mattermost:{MM_OPERATOR}\"");
    setup.extra = Box::leak(format!("{FAST_JOBS}{PROTECT}").into_boxed_str());
    let bot = setup.start().await;
    // A protected account is refused on Mattermost too, with nothing sent.
    sim.state().clear_calls();
    let reply = bot
        .mm_say(
            MM_OPERATOR,
            MM_OPS_CHANNEL,
            "user okta svc-backup",
            &mm.response_url("h0"),
        )
        .await;
    let text = reply["text"].as_str().unwrap_or_default().to_string();
    assert!(
        text.contains("Not done: svc-backup is a protected account"),
        "{text}"
    );
    assert!(sim.state().calls().is_empty(), "{:?}", sim.state().calls());
    let text = visible(
        &say_as(
            &bot,
            &slack,
            OPERATOR,
            "alice",
            "lock okta 2h \"Okta tenant migration\"",
        )
        .await,
    );
    assert!(text.contains("Okta locked until"), "{text}");
    sim.state().clear_calls();
    let reply = bot
        .mm_say(
            MM_OPERATOR,
            MM_OPS_CHANNEL,
            "run okta",
            &mm.response_url("h1"),
        )
        .await;
    let text = reply["text"].as_str().unwrap_or_default().to_string();
    assert!(text.contains("Not done: Okta is locked"), "{text}");
    // Mattermost shows `@` with a zero-width space after it: no mention.
    assert!(
        text.contains("Okta is locked by @\u{200b}alice until ")
            && text.contains("Okta tenant migration"),
        "{text}"
    );
    assert_eq!(posts_to_sim(&sim), 0);
    let text = visible(&say_as(&bot, &slack, OPERATOR, "alice", "unlock okta").await);
    assert!(text.contains("Okta unlocked"), "{text}");
    let reply = bot
        .mm_say(
            MM_OPERATOR,
            MM_OPS_CHANNEL,
            "run okta",
            &mm.response_url("h2"),
        )
        .await;
    let text = reply["text"].as_str().unwrap_or_default().to_string();
    assert!(text.contains("Sync of Okta started"), "{text}");
    bot.wait_job_over().await;
}

const PROTECT: &str = "[protect]\nusers = [\"admin\", \"break-glass-*\", \"svc-*\"]\n";

#[tokio::test]
async fn user_refuses_a_protected_account_and_sends_nothing() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let bot = bot_with(&sim, &slack, PROTECT.to_string()).await;
    let p = People {
        bot: &bot,
        slack: &slack,
    };
    sim.state().clear_calls();
    for (text, pattern) in [
        ("user okta break-glass-1 --by-username", "break-glass-*"),
        ("user okta SVC-Backup", "svc-*"),
        ("user okta admin@acme.example", "admin"),
    ] {
        let got = p.helpdesk(text).await;
        assert!(got.contains("is a protected account"), "{text}: {got}");
        assert!(got.contains(&format!("`{pattern}`")), "{text}: {got}");
        assert!(
            got.contains("Nothing was sent to the product."),
            "{text}: {got}"
        );
    }
    // Admins too: protection is against mistakes, whoever makes them.
    assert!(p
        .admin("user okta admin")
        .await
        .contains("Not done: admin is a protected account"));
    assert!(sim.state().calls().is_empty(), "{:?}", sim.state().calls());
    let row = audited(&bot, "user okta admin").await;
    assert_eq!(row.decision, Decision::Denied);
    // Anyone else is updated as before.
    let got = p.helpdesk("user okta dmitri.okafor@acme.example").await;
    assert!(
        got.contains("User update on Okta") && got.contains("UPDATED"),
        "{got}"
    );
}

/// The protected-account alerts about sync `id` posted so far: (where, text).
fn alerts(slack: &FakeSlackHandle, id: u64) -> Vec<(String, String)> {
    let title = format!("Protected accounts hit by the sync of Okta — sync {id}");
    slack
        .received()
        .into_iter()
        .map(|(path, body)| {
            let channel = body["channel"].as_str().map(str::to_string);
            (channel.unwrap_or(path), visible(&body))
        })
        .filter(|(_, text)| text.contains(&title))
        .collect()
}

#[tokio::test]
async fn a_sync_that_deletes_or_fails_a_protected_account_raises_one_alert_per_channel() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let extra = format!(
        "{PROTECT}[watch]\ninterval = \"100ms\"\n\
         [[notify]]\nconnectors = [\"okta\"]\nchannel = \"slack:{CFAIL}\"\non = [\"failure\"]\n"
    );
    let bot = bot_with(&sim, &slack, extra).await;
    sim.state()
        .put_user(OKTA, "svc-backup", UserUpdate::default())
        .unwrap();
    sim.state()
        .put_user(
            OKTA,
            "break-glass-1",
            UserUpdate {
                fails_with: Some("Account is locked in the identity provider".into()),
                ..UserUpdate::default()
            },
        )
        .unwrap();
    wait_baseline(&bot, OKTA).await;
    sim.state().remove_user(OKTA, "svc-backup").unwrap();

    // A sync started from chat: the job's channel and the failures route hear it once.
    let id = sim.state().next_sync_id();
    let mut cmd = Cmd::new(OPERATOR, "run okta");
    cmd.response_url = Some(slack.response_url("job"));
    bot.command(&cmd).await;
    let got = wait_for("the alert in both channels", || async {
        let a = alerts(&slack, id);
        (a.len() >= 2).then_some(a)
    })
    .await;
    let (_, text) = got
        .iter()
        .find(|(to, _)| to == "/commands/T0001/job")
        .expect("an alert in the job's channel");
    assert!(
        text.contains("`svc-backup` — *DELETED*: No longer in the identity provider"),
        "{text}"
    );
    assert!(
        text.contains("`break-glass-1` — *FAILED*: Account is locked in the identity provider (protected by `break-glass-*`)"),
        "{text}"
    );
    assert!(
        text.contains("deleted, deactivated or failed 2 account(s)"),
        "{text}"
    );
    assert!(got.iter().any(|(to, _)| to == CFAIL), "{got:?}");
    bot.wait_job_over().await;
    // The watcher sees the same sync: still one alert per channel.
    wait_for_more_polls(&sim, OKTA, 4).await;
    let got = alerts(&slack, id);
    assert_eq!(got.len(), 2, "{got:?}");

    // A sync the watcher alone sees (the schedule's): the failures route hears it, once.
    let scheduled = sim.state().next_sync_id();
    let record = sim
        .state()
        .start_sync(OKTA, false, SyncOrigin::Schedule)
        .unwrap();
    assert_eq!(record["id"].as_u64(), Some(scheduled));
    let got = wait_for("the watcher's alert", || async {
        let a = alerts(&slack, scheduled);
        (!a.is_empty()).then_some(a)
    })
    .await;
    assert_eq!(got[0].0, CFAIL);
    assert!(
        got[0].1.contains("`break-glass-1` — *FAILED*"),
        "{}",
        got[0].1
    );
    assert!(
        !got[0].1.contains("svc-backup"),
        "deleted once only: {}",
        got[0].1
    );
    wait_for_more_polls(&sim, OKTA, 4).await;
    assert_eq!(alerts(&slack, scheduled).len(), 1);
}

#[tokio::test]
async fn when_the_locks_cannot_be_read_a_changing_command_is_not_run() {
    if crate::support::pg::sqlite_only(
        "when_the_locks_cannot_be_read_a_changing_command_is_not_run",
    ) {
        return;
    }
    use sqlx::{Connection, Executor};
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let db = temp_db();
    let mut setup = BotSetup::new(&sim);
    setup.db = db.clone();
    setup.extra = FAST_JOBS;
    let bot = setup.start().await;
    // The store loses its locks table: the bot cannot know whether Okta is locked.
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    conn.execute("DROP TABLE locks").await.unwrap();
    conn.close().await.ok();
    sim.state().clear_calls();
    let text = visible(&say_as(&bot, &slack, OPERATOR, "alice", "run okta").await);
    assert!(
        text.contains("The bot cannot read its locks from its store, so it does not act"),
        "{text}"
    );
    assert!(sim.state().calls().is_empty(), "{:?}", sim.state().calls());
    // Reading is not refused: status shows the sync, without a lock line.
    let text = visible(&say_as(&bot, &slack, HELPDESK, "helen", "status okta").await);
    assert!(text.contains("Okta — sync"), "{text}");
}
