//! Changing a connector from chat, over real HTTP against the simulator: `set` and
//! `patch` show a diff with buttons and send nothing; only the requester's confirming
//! click sends the PATCH the simulator records, once. Every refused click sends nothing.

use serde_json::{json, Value};
use usersync_bot::chat::slack::verify::sign;
use usersync_bot::simulator::SimulatorHandle;
use usersync_bot::usersync::ApiFlavour;

use crate::support::bot::*;
use crate::support::*;

/// The PATCH requests the simulator received: (path, content type, X-Atlassian-Token, body).
pub(crate) fn patches(
    sim: &SimulatorHandle,
) -> Vec<(String, Option<String>, Option<String>, Value)> {
    sim.state()
        .calls()
        .into_iter()
        .filter(|c| c.method == "PATCH")
        .map(|c| {
            let body = serde_json::from_str(&c.body).unwrap_or(Value::Null);
            (c.path, c.content_type, c.atlassian_token, body)
        })
        .collect()
}

/// The token of a Slack prompt's button (`usersync_confirm` / `usersync_cancel`).
pub(crate) fn slack_token(reply: &Value, action_id: &str) -> String {
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

fn slack_has_buttons(reply: &Value) -> bool {
    reply["blocks"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|b| b["type"] == "actions")
}

/// A `block_actions` payload as Slack sends it for a click on one of the bot's buttons.
pub(crate) fn block_actions(
    user: &str,
    action_id: &str,
    token: &str,
    response_url: &str,
) -> String {
    let payload = json!({
        "type": "block_actions",
        "user": {"id": user, "username": "clicker", "name": "clicker", "team_id": "T0001"},
        "api_app_id": "A123456",
        "token": "deprecated-verification-token",
        "container": {"type": "message", "message_ts": "1.2", "channel_id": OPS_CHANNEL, "is_ephemeral": true},
        "trigger_id": format!("click.{}", fastrand::u64(..)),
        "team": {"id": "T0001", "domain": "example"},
        "channel": {"id": OPS_CHANNEL, "name": "ops"},
        "response_url": response_url,
        "actions": [{"action_id": action_id, "block_id": "b", "value": token, "type": "button",
                     "text": {"type": "plain_text", "text": "Confirm"}, "action_ts": "1.3"}],
    });
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("payload", &payload.to_string());
    form.finish()
}

impl TestBot {
    pub(crate) fn interactions_url(&self) -> String {
        self.url.replace("/slack/commands", "/slack/interactions")
    }

    /// Posts a click signed with `secret`; returns the HTTP status.
    pub(crate) async fn slack_click_signed(&self, body: &str, secret: &str) -> u16 {
        let ts = now();
        self.http
            .post(self.interactions_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", ts.to_string())
            .header("x-slack-signature", sign(secret, ts, body.as_bytes()))
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Clicks as `user` and waits for the answer posted to `slack`'s response_url `id`.
    pub(crate) async fn slack_click(
        &self,
        slack: &FakeSlackHandle,
        user: &str,
        action_id: &str,
        token: &str,
        id: &str,
    ) -> Value {
        let url = slack.response_url(id);
        let body = block_actions(user, action_id, token, &url);
        assert_eq!(self.slack_click_signed(&body, SECRET).await, 200);
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

    /// A Mattermost action request as the server sends it; returns status and JSON body.
    pub(crate) async fn mm_click(&self, user: &str, context: Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url.replace("/slack/commands", "/mattermost/actions"))
            .header("content-type", "application/json")
            .json(&json!({
                "user_id": user, "user_name": "mmclicker", "channel_id": MM_OPS_CHANNEL,
                "channel_name": "ops", "team_id": "team1", "team_domain": "acme",
                "post_id": "post1", "trigger_id": "trig1", "type": "", "data_source": "",
                "context": context,
            }))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

async fn bot_on(sim: &SimulatorHandle, extra: &str) -> TestBot {
    let mut setup = BotSetup::new(sim);
    setup.extra = extra;
    setup.start().await
}

#[tokio::test]
async fn set_shows_the_diff_sends_nothing_and_the_confirmed_click_sends_one_merge_patch() {
    for api in [ApiFlavour::V2, ApiFlavour::V1_9] {
        let sim = simulator(api, std::time::Duration::from_millis(50)).await;
        let slack = FakeSlackHandle::start().await;
        let bot = bot_on(&sim, "").await;
        let reply = bot
            .say_to(
                &slack,
                ADMIN,
                r#"set okta syncSchedule.intervalMinutes=15 groupFilter=["Everyone","jira-users"]"#,
            )
            .await;
        let text = visible(&reply);
        assert!(text.contains("Change Okta?"), "{text}");
        assert!(text.contains("2 settings of *Okta*"), "{text}");
        assert!(
            text.contains("`groupFilter`: `[\"Everyone\"]` → `[\"Everyone\",\"jira-users\"]`"),
            "{text}"
        );
        assert!(
            text.contains("`syncSchedule.intervalMinutes`: `30` → `15`"),
            "{text}"
        );
        assert!(
            text.contains("only they can confirm · expires in 2m"),
            "{text}"
        );
        assert!(!text.contains("00SIM-okta-api-token"), "{text}");
        assert_eq!(reply["response_type"], "ephemeral");
        assert!(patches(&sim).is_empty(), "nothing is sent before the click");
        // The confirm button is danger-styled and asks again on the client.
        let confirm = reply["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == "actions")
            .unwrap()["elements"][0]
            .clone();
        assert_eq!(confirm["style"], "danger");
        assert_eq!(confirm["confirm"]["title"]["text"], "Change Okta?");

        let token = slack_token(&reply, "usersync_confirm");
        let answer = bot
            .slack_click(&slack, ADMIN, "usersync_confirm", &token, "click1")
            .await;
        assert_eq!(
            answer["replace_original"], true,
            "the prompt is edited in place"
        );
        assert_eq!(answer["delete_original"], false);
        let text = visible(&answer);
        assert!(text.contains("Okta changed"), "{text}");
        assert!(text.contains("as read back from the product"), "{text}");
        assert!(
            text.contains("`syncSchedule.intervalMinutes`: `30` → `15`"),
            "{text}"
        );
        assert!(
            text.contains("Confirmed by @clicker · revision #2"),
            "{text}"
        );
        assert!(!slack_has_buttons(&answer), "the buttons are gone");
        // The history holds the connector as it was before, and the change, by whom.
        let history = visible(&bot.say(VIEWER, "history okta").await);
        assert!(
            history.contains("#2 · ")
                && history.contains(" · @tester · groupFilter, syncSchedule.intervalMinutes"),
            "{history}"
        );
        assert!(
            history.contains("#1 · ") && history.contains("first seen"),
            "{history}"
        );
        let sent = patches(&sim);
        assert_eq!(sent.len(), 1, "{sent:?}");
        let (path, content_type, xsrf, body) = &sent[0];
        assert!(path.ends_with(&format!("/connector/{OKTA}")), "{path}");
        assert_eq!(
            content_type.as_deref(),
            Some("application/merge-patch+json")
        );
        assert_eq!(xsrf.as_deref(), Some("no-check"));
        assert_eq!(
            body,
            &json!({"syncSchedule": {"intervalMinutes": 15}, "groupFilter": ["Everyone", "jira-users"]})
        );
        let okta = client(&sim, api).get_connector(OKTA).await.unwrap();
        assert_eq!(okta.extra["syncSchedule"]["intervalMinutes"], 15);

        // A second click on the same button does nothing.
        let again = bot
            .slack_click(&slack, ADMIN, "usersync_confirm", &token, "click2")
            .await;
        assert!(
            visible(&again).contains("This change was already confirmed and made"),
            "{again}"
        );
        assert_eq!(again["replace_original"], false, "told to the clicker only");
        assert_eq!(again["response_type"], "ephemeral");
        assert_eq!(patches(&sim).len(), 1);

        // Both clicks are audited with the command they were for (after set and history).
        let rows = bot.audit_rows(4).await;
        let clicks: Vec<_> = rows
            .iter()
            .filter(|r| r.command_text.starts_with("[confirm] /usersync set okta"))
            .collect();
        assert_eq!(clicks.len(), 2, "{rows:?}");
        assert!(
            clicks.iter().any(|r| r.outcome == "changed: 2 field(s)"),
            "{rows:?}"
        );
        assert!(
            clicks.iter().any(|r| r.outcome == "refused: already made"),
            "{rows:?}"
        );
        bot.bot.stop().await;
    }
}

#[tokio::test]
async fn patch_sends_the_json_patch_as_given_with_its_content_type() {
    let sim = simulator(ApiFlavour::V1_9, std::time::Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let bot = bot_on(&sim, "").await;
    let doc = r#"[{"op":"replace","path":"/enabled","value":false},{"op":"add","path":"/groupFilter/-","value":"staff"}]"#;
    let reply = bot
        .say_to(&slack, ADMIN, &format!("patch \"Azure AD\" '{doc}'"))
        .await;
    let text = visible(&reply);
    assert!(text.contains("`enabled`: `true` → `false`"), "{text}");
    assert!(text.contains("sent as a JSON Patch"), "{text}");
    let token = slack_token(&reply, "usersync_confirm");
    let answer = bot
        .slack_click(&slack, ADMIN, "usersync_confirm", &token, "c1")
        .await;
    assert!(visible(&answer).contains("Azure AD changed"), "{answer}");
    let sent = patches(&sim);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.as_deref(), Some("application/json-patch+json"));
    assert_eq!(sent[0].3, serde_json::from_str::<Value>(doc).unwrap());
    bot.bot.stop().await;
}

#[tokio::test]
async fn refused_changes_get_the_reason_no_buttons_and_send_nothing() {
    let sim = simulator(ApiFlavour::V2, std::time::Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let bot = bot_on(&sim, "").await;
    let cases = [
        (
            "set okta apiToken=n3w-t0ken-value",
            "Secret settings are never changed from chat",
        ),
        (
            "set ldap bindPassword=pw",
            "Secret settings are never changed from chat",
        ),
        (
            "set okta sync.pagesize=5",
            "Okta has no setting sync.pagesize",
        ),
        (
            "set okta enabled=true",
            "The change leaves every setting as it is",
        ),
        (
            "set okta directoryId=1",
            "directoryId belong to the product",
        ),
        (
            r#"patch okta '[{"op":"test","path":"/name","value":"Other"}]'"#,
            "The patch does not apply",
        ),
        (
            r#"patch okta '[{"op":"remove","path":"/apiToken"}]'"#,
            "Secret settings are never changed from chat",
        ),
        (
            r#"patch okta '{"enabled":false}'"#,
            "A JSON Patch is a list of operations",
        ),
    ];
    for (command, why) in cases {
        let reply = bot.say_to(&slack, ADMIN, command).await;
        let text = visible(&reply);
        assert!(text.contains(why), "{command}: {text}");
        assert!(!slack_has_buttons(&reply), "{command}: {reply}");
        assert!(!text.contains("n3w-t0ken-value"), "{command}: {text}");
    }
    let secret = visible(&bot.say_to(&slack, ADMIN, "set okta apiToken=x").await);
    assert!(
        secret.contains("in the User Sync admin pages of jira"),
        "{secret}"
    );
    // An operator may not even ask.
    let denied = visible(&bot.say_to(&slack, OPERATOR, "set okta enabled=false").await);
    assert!(denied.contains("admin"), "{denied}");
    assert!(patches(&sim).is_empty());
    bot.bot.stop().await;
}

#[tokio::test]
async fn clicks_by_someone_else_forged_or_after_a_change_send_nothing_and_say_why() {
    let sim = simulator(ApiFlavour::V2, std::time::Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let bot = bot_on(&sim, "").await;
    // Another user (even an operator in the same channel) clicks.
    let reply = bot
        .say_to(&slack, ADMIN, "set okta syncSchedule.intervalMinutes=45")
        .await;
    let token = slack_token(&reply, "usersync_confirm");
    let other = bot
        .slack_click(&slack, OPERATOR, "usersync_confirm", &token, "other")
        .await;
    assert!(
        visible(&other).contains("Only @tester can confirm this"),
        "{other}"
    );
    assert_eq!(other["replace_original"], false);

    // A forged signature never reaches the pipeline.
    let body = block_actions(
        ADMIN,
        "usersync_confirm",
        &token,
        &slack.response_url("forged"),
    );
    assert_eq!(bot.slack_click_signed(&body, "not-the-secret").await, 401);
    // A token altered by one character is not the bot's.
    let mut altered = token.clone();
    let last = altered.pop().unwrap();
    altered.push(if last == '0' { '1' } else { '0' });
    let forged = bot
        .slack_click(&slack, ADMIN, "usersync_confirm", &altered, "altered")
        .await;
    assert!(
        visible(&forged).contains("This button is not valid"),
        "{forged}"
    );
    // The cancel token does not confirm.
    let cancel = slack_token(
        &bot.say_to(&slack, ADMIN, "set okta syncSchedule.intervalMinutes=46")
            .await,
        "usersync_cancel",
    );
    let swapped = bot
        .slack_click(&slack, ADMIN, "usersync_confirm", &cancel, "swapped")
        .await;
    assert!(
        visible(&swapped).contains("This button is not valid"),
        "{swapped}"
    );

    // The connector changes outside the bot between the prompt and the click.
    client(&sim, ApiFlavour::V2)
        .merge_patch_connector(OKTA, &json!({"groupFilter": ["Everyone", "late"]}))
        .await
        .unwrap();
    let changed = bot
        .slack_click(&slack, ADMIN, "usersync_confirm", &token, "changed")
        .await;
    assert!(
        visible(&changed).contains("Okta changed since this prompt"),
        "{changed}"
    );
    assert_eq!(
        changed["replace_original"], true,
        "the stale prompt loses its buttons"
    );
    // Only the outside change reached the product.
    let sent = patches(&sim);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].3, json!({"groupFilter": ["Everyone", "late"]}));
    // And the stale confirmation stays unusable.
    let after = bot
        .slack_click(&slack, ADMIN, "usersync_confirm", &token, "after")
        .await;
    assert!(
        visible(&after).contains("refused: the connector had changed"),
        "{after}"
    );

    // Cancel ends it; a confirm afterwards does nothing.
    let reply = bot.say_to(&slack, ADMIN, "set okta enabled=false").await;
    let cancelled = bot
        .slack_click(
            &slack,
            ADMIN,
            "usersync_cancel",
            &slack_token(&reply, "usersync_cancel"),
            "cancel",
        )
        .await;
    assert!(
        visible(&cancelled).contains("Change of Okta cancelled"),
        "{cancelled}"
    );
    assert_eq!(cancelled["replace_original"], true);
    let late = bot
        .slack_click(
            &slack,
            ADMIN,
            "usersync_confirm",
            &slack_token(&reply, "usersync_confirm"),
            "late",
        )
        .await;
    assert!(
        visible(&late).contains("This change was cancelled"),
        "{late}"
    );
    assert_eq!(patches(&sim).len(), 1);

    let expected = [
        "refused: not the requester",
        "refused: forged or altered token",
        "refused: connector changed since the prompt",
        "refused: already stale",
        "cancelled: nothing sent",
        "refused: already cancelled",
    ];
    // Rows are written in batches: wait until every click's row is in.
    wait_for("every click audited", || async {
        let refused: Vec<String> = bot
            .audit()
            .await
            .into_iter()
            .filter(|r| r.command_text.starts_with('['))
            .map(|r| r.outcome)
            .collect();
        expected
            .iter()
            .all(|e| refused.iter().any(|o| o == e))
            .then_some(())
    })
    .await;
    assert_eq!(
        bot.metrics_text()
            .await
            .lines()
            .find(|l| l.starts_with(
                "usersync_bot_refused_total{platform=\"slack\",reason=\"bad_signature\"}"
            ))
            .map(|l| l.ends_with(" 1")),
        Some(true)
    );
    bot.bot.stop().await;
}

#[tokio::test]
async fn a_confirmation_survives_a_restart_and_the_permission_is_checked_again_at_click_time() {
    let sim = simulator(ApiFlavour::V2, std::time::Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let db = temp_db();
    let start = |roles_admin: bool| {
        let mut setup = BotSetup::new(&sim);
        setup.db = db.clone();
        if !roles_admin {
            // The admin is demoted: listed only as an operator now.
            setup.admin_extra = String::new();
            setup.roles_extra = format!(", \"slack:{ADMIN}\"");
        }
        setup
    };
    let bot = start(true).start().await;
    let first = slack_token(
        &bot.say_to(&slack, ADMIN, "set okta enabled=false").await,
        "usersync_confirm",
    );
    let second = slack_token(
        &bot.say_to(&slack, ADMIN, "set azure enabled=false").await,
        "usersync_confirm",
    );
    bot.bot.stop().await;

    // Restarted with the same roles: the first prompt still works.
    let bot = start(true).start().await;
    let answer = bot
        .slack_click(&slack, ADMIN, "usersync_confirm", &first, "r1")
        .await;
    assert!(visible(&answer).contains("Okta changed"), "{answer}");
    assert_eq!(patches(&sim).len(), 1);
    bot.bot.stop().await;

    // Restarted with the admin demoted (a config without them as admin).
    let mut setup = start(false);
    setup.viewer_star = true;
    setup.storage_url = crate::support::pg::suite_database(&setup.db).await;
    let text = setup
        .config_text()
        .replace(&format!("admin = [\"slack:{ADMIN}\"]"), "admin = []");
    assert!(
        !text.contains(&format!("admin = [\"slack:{ADMIN}\"")),
        "{text}"
    );
    let bot = start_with_text(&text).await;
    let denied = bot
        .slack_click(&slack, ADMIN, "usersync_confirm", &second, "r2")
        .await;
    assert!(
        visible(&denied).contains("You may no longer do this"),
        "{denied}"
    );
    assert_eq!(patches(&sim).len(), 1, "nothing more was sent");
    bot.bot.stop().await;
}

#[tokio::test]
async fn a_confirmation_still_at_work_on_a_live_replica_is_said_to_be_being_made() {
    let sim = simulator(ApiFlavour::V2, std::time::Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let bot = BotSetup::new(&sim).start().await;
    let token = slack_token(
        &bot.say_to(&slack, ADMIN, "set okta syncSchedule.intervalMinutes=77")
            .await,
        "usersync_confirm",
    );
    // Taken by this (live) replica, its PATCH not answered yet; meanwhile another
    // prompt's change lands, so the connector no longer looks as this prompt showed it.
    let id = token.rsplit_once('.').unwrap().0;
    assert!(bot
        .bot
        .app
        .store
        .settle_pending(
            id,
            usersync_bot::store::PendingState::Confirmed,
            "@clicker",
            bot.bot.app.owner(),
            chrono::Utc::now()
        )
        .await
        .unwrap());
    let other = slack_token(
        &bot.say_to(&slack, ADMIN, "set okta syncSchedule.intervalMinutes=78")
            .await,
        "usersync_confirm",
    );
    let made = visible(
        &bot.slack_click(&slack, ADMIN, "usersync_confirm", &other, "other")
            .await,
    );
    assert!(made.contains("Okta changed"), "{made}");
    let answer = visible(
        &bot.slack_click(&slack, ADMIN, "usersync_confirm", &token, "again")
            .await,
    );
    assert!(answer.contains("This change is being made"), "{answer}");
    assert!(
        answer.contains(
            "It was confirmed by @clicker moments ago; its result is posted when it is made."
        ),
        "{answer}"
    );
    assert!(!answer.contains("already confirmed"), "{answer}");
    assert_eq!(
        patches(&sim).len(),
        1,
        "only the other prompt's change was sent"
    );
    let rows = bot.audit_rows(1).await;
    assert_eq!(
        rows[0].outcome,
        "refused: confirmed before; the change being made"
    );
    bot.bot.stop().await;
}

#[tokio::test]
async fn a_confirmation_cut_off_before_its_change_says_the_connector_was_not_changed() {
    if crate::support::pg::sqlite_only("a_confirmation_cut_off_before_its_change") {
        return;
    }
    let sim = simulator(ApiFlavour::V2, std::time::Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let setup = BotSetup::new(&sim);
    let db = setup.db.clone();
    let bot = setup.start().await;
    let token = slack_token(
        &bot.say_to(&slack, ADMIN, "set okta syncSchedule.intervalMinutes=77")
            .await,
        "usersync_confirm",
    );
    // The click was taken (the confirmation used up) and the process died before the
    // PATCH: as a kill between the two leaves it.
    let id = token.rsplit_once('.').unwrap().0;
    assert!(bot
        .bot
        .app
        .store
        .settle_pending(
            id,
            usersync_bot::store::PendingState::Confirmed,
            "@clicker",
            bot.bot.app.owner(),
            chrono::Utc::now()
        )
        .await
        .unwrap());
    bot.bot.stop().await;

    let mut again = BotSetup::new(&sim);
    again.db = db;
    let bot = again.start().await;
    let answer = visible(
        &bot.slack_click(&slack, ADMIN, "usersync_confirm", &token, "again")
            .await,
    );
    assert!(answer.contains("Okta was not changed"), "{answer}");
    assert!(
        answer.contains("confirmed by @clicker, but the bot stopped before making it: Okta is still as the prompt showed it"),
        "{answer}"
    );
    assert!(
        answer.contains("Nothing was sent to the product."),
        "{answer}"
    );
    assert!(patches(&sim).is_empty(), "nothing was sent");

    // Once the connector changed (here from another prompt), a click on the used-up one
    // cannot say whether its change was made: it says so, never "already confirmed".
    let other = slack_token(
        &bot.say_to(&slack, ADMIN, "set okta syncSchedule.intervalMinutes=78")
            .await,
        "usersync_confirm",
    );
    let made = visible(
        &bot.slack_click(&slack, ADMIN, "usersync_confirm", &other, "other")
            .await,
    );
    assert!(made.contains("Okta changed"), "{made}");
    let answer = visible(
        &bot.slack_click(&slack, ADMIN, "usersync_confirm", &token, "third")
            .await,
    );
    assert!(
        answer.contains("Not known whether this change was made"),
        "{answer}"
    );
    assert!(
        answer.contains("confirmed by @clicker, but the bot stopped before recording its result, and Okta has changed since the prompt"),
        "{answer}"
    );
    assert!(!answer.contains("already confirmed"), "{answer}");
    assert_eq!(patches(&sim).len(), 1);
    // The other prompt's change was made and recorded so: its second click says it.
    let again = visible(
        &bot.slack_click(&slack, ADMIN, "usersync_confirm", &other, "other-again")
            .await,
    );
    assert!(
        again.contains("This change was already confirmed and made"),
        "{again}"
    );
    assert_eq!(patches(&sim).len(), 1);
    bot.bot.stop().await;
}

/// A bot from a config text (the test's own roles).
async fn start_with_text(text: &str) -> TestBot {
    let config = usersync_bot::config::Config::parse(text, &|name| {
        (name == "TEST_SIGNING_SECRET").then(|| SECRET.to_string())
    })
    .expect("test config is valid");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bot = usersync_bot::server::RunningBot::start(config, listener)
        .await
        .expect("bot starts");
    TestBot {
        url: format!("http://{}/slack/commands", bot.addr),
        bot,
        http: reqwest::Client::new(),
    }
}

pub(crate) const MM_ADMIN: &str = "mmadmin0user";

async fn mm_bot(sim: &SimulatorHandle, mm: &FakeMattermostHandle, ttl: &str) -> TestBot {
    let mut setup = BotSetup::new(sim);
    setup.mattermost = Some(format!(
        "{}\n[confirm]\nttl = \"{ttl}\"\n",
        mm_section(&mm.url(), None)
    ));
    setup.admin_extra = format!(", \"mattermost:{MM_ADMIN}\"");
    setup.top_extra = "public_url = \"https://usersync-bot.example.com/\"".into();
    setup.start().await
}

/// The buttons of a Mattermost prompt: (id, style, integration url, context).
pub(crate) fn mm_actions(reply: &Value) -> Vec<(String, String, String, Value)> {
    reply["attachments"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|a| a["actions"].as_array().cloned().unwrap_or_default())
        .map(|a| {
            (
                a["id"].as_str().unwrap_or_default().to_string(),
                a["style"].as_str().unwrap_or_default().to_string(),
                a["integration"]["url"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                a["integration"]["context"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn on_mattermost_the_buttons_call_public_url_and_the_click_is_answered_in_place() {
    let sim = simulator(ApiFlavour::V1_9, std::time::Duration::from_millis(50)).await;
    let mm = FakeMattermostHandle::start().await;
    let bot = mm_bot(&sim, &mm, "2m").await;
    let reply = bot
        .mm_say(
            MM_ADMIN,
            MM_OPS_CHANNEL,
            "set okta syncSchedule.intervalMinutes=10",
            &mm.response_url("p"),
        )
        .await;
    assert!(
        reply["text"].as_str().unwrap().contains("Change Okta?"),
        "{reply}"
    );
    let actions = mm_actions(&reply);
    assert_eq!(actions.len(), 2, "{reply}");
    let (id, style, url, confirm) = &actions[0];
    assert_eq!((id.as_str(), style.as_str()), ("confirm", "danger"));
    assert!(actions
        .iter()
        .all(|(id, ..)| id.chars().all(|c| c.is_ascii_alphanumeric())));
    assert_eq!(url, "https://usersync-bot.example.com/mattermost/actions");
    assert!(patches(&sim).is_empty());

    // Someone else's click, and a forged token: told ephemerally, nothing sent.
    let (status, other) = bot.mm_click(MM_OPERATOR, confirm.clone()).await;
    assert_eq!(status, 200);
    assert!(
        other["ephemeral_text"]
            .as_str()
            .unwrap()
            .contains("can confirm this"),
        "{other}"
    );
    let mut forged = confirm.clone();
    forged["token"] = json!(format!("{}0", confirm["token"].as_str().unwrap()));
    let (_, forged) = bot.mm_click(MM_ADMIN, forged).await;
    assert!(
        forged["ephemeral_text"]
            .as_str()
            .unwrap()
            .contains("This button is not valid"),
        "{forged}"
    );
    let (status, _) = bot.mm_click(MM_ADMIN, json!({"action": "confirm"})).await;
    assert_eq!(status, 401, "no token, no click");
    assert!(patches(&sim).is_empty());

    let (status, answer) = bot.mm_click(MM_ADMIN, confirm.clone()).await;
    assert_eq!(status, 200);
    let update = answer["update"]["message"].as_str().unwrap_or_default();
    assert!(update.contains("Okta changed"), "{answer}");
    assert!(
        update.contains("`syncSchedule.intervalMinutes`: `30` → `10`"),
        "{answer}"
    );
    assert!(
        mm_actions(&answer["update"]["props"]).is_empty(),
        "the buttons are gone"
    );
    let sent = patches(&sim);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].3, json!({"syncSchedule": {"intervalMinutes": 10}}));
    bot.bot.stop().await;
}

#[tokio::test]
async fn a_click_after_the_confirmation_expired_sends_nothing() {
    let sim = simulator(ApiFlavour::V2, std::time::Duration::from_millis(50)).await;
    let mm = FakeMattermostHandle::start().await;
    let bot = mm_bot(&sim, &mm, "1s").await;
    let reply = bot
        .mm_say(
            MM_ADMIN,
            MM_OPS_CHANNEL,
            "set okta enabled=false",
            &mm.response_url("p"),
        )
        .await;
    let confirm = mm_actions(&reply)[0].3.clone();
    // The only thing this test waits for is the clock passing the prompt's expiry.
    let expiry = std::time::Instant::now() + std::time::Duration::from_millis(1100);
    wait_for("the confirmation's ttl to pass", || async {
        (std::time::Instant::now() >= expiry).then_some(())
    })
    .await;
    let (_, answer) = bot.mm_click(MM_ADMIN, confirm).await;
    let text = answer["update"]["message"].as_str().unwrap_or_default();
    assert!(text.contains("This confirmation expired"), "{answer}");
    assert!(patches(&sim).is_empty());
    bot.bot.stop().await;
}

#[tokio::test]
async fn rollback_proposes_the_patch_back_to_a_revision_without_its_secrets() {
    let sim = simulator(ApiFlavour::V2, std::time::Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let bot = bot_on(&sim, "").await;
    // Revision 1: the connector as first seen.
    bot.say_to(&slack, ADMIN, "connector okta").await;
    // Outside the bot: the schedule and the secret change.
    client(&sim, ApiFlavour::V2)
        .merge_patch_connector(
            OKTA,
            &json!({"syncSchedule": {"intervalMinutes": 5}, "apiToken": "rotated-token", "groupFilter": ["Everyone", "x"]}),
        )
        .await
        .unwrap();
    let missing = visible(&bot.say_to(&slack, ADMIN, "rollback okta 99").await);
    assert!(missing.contains("Okta has no revision #99"), "{missing}");
    let reply = bot.say_to(&slack, ADMIN, "rollback okta #1").await;
    let text = visible(&reply);
    assert!(text.contains("Roll Okta back to revision #1?"), "{text}");
    assert!(
        text.contains("`syncSchedule.intervalMinutes`: `5` → `30`"),
        "{text}"
    );
    assert!(
        text.contains("Secret settings are not rolled back"),
        "{text}"
    );
    assert!(!text.contains("apiToken"), "{text}");
    assert!(!text.contains("rotated-token"), "{text}");
    let before = patches(&sim).len();
    let token = slack_token(&reply, "usersync_confirm");
    let answer = bot
        .slack_click(&slack, ADMIN, "usersync_confirm", &token, "rb")
        .await;
    assert!(visible(&answer).contains("Okta changed"), "{answer}");
    let sent = patches(&sim);
    assert_eq!(sent.len(), before + 1);
    assert_eq!(
        sent[before].3,
        json!({"syncSchedule": {"intervalMinutes": 30}, "groupFilter": ["Everyone"]})
    );
    let okta = client(&sim, ApiFlavour::V2)
        .get_connector(OKTA)
        .await
        .unwrap();
    assert_eq!(
        okta.extra["apiToken"], "rotated-token",
        "the secret is left alone"
    );
    // Nothing to roll back once it is as the revision says.
    let again = visible(&bot.say_to(&slack, ADMIN, "rollback okta 1").await);
    assert!(again.contains("leaves every setting as it is"), "{again}");
    let operator = visible(&bot.say_to(&slack, OPERATOR, "rollback okta 1").await);
    assert!(operator.contains("admin"), "{operator}");
    bot.bot.stop().await;
}

#[tokio::test]
async fn the_click_endpoints_refuse_what_commands_refuse_before_reading_anything() {
    let sim = simulator(ApiFlavour::V2, std::time::Duration::from_millis(50)).await;
    let mm = FakeMattermostHandle::start().await;
    let bot = mm_bot(&sim, &mm, "2m").await;
    let slack_url = bot.interactions_url();
    let body = block_actions(ADMIN, "usersync_confirm", "x.y", "http://127.0.0.1:1/r");
    let post = |url: String,
                content_type: &'static str,
                body: String,
                ts: Option<i64>,
                secret: &'static str| {
        let http = bot.http.clone();
        async move {
            let mut r = http.post(url).header("content-type", content_type);
            if let Some(ts) = ts {
                r = r
                    .header("x-slack-request-timestamp", ts.to_string())
                    .header("x-slack-signature", sign(secret, ts, body.as_bytes()));
            }
            r.body(body).send().await.unwrap().status().as_u16()
        }
    };
    let form = "application/x-www-form-urlencoded";
    assert_eq!(
        post(slack_url.clone(), form, body.clone(), None, SECRET).await,
        401,
        "unsigned"
    );
    assert_eq!(
        post(
            slack_url.clone(),
            form,
            body.clone(),
            Some(now() - 600),
            SECRET
        )
        .await,
        401,
        "stale"
    );
    assert_eq!(
        post(
            slack_url.clone(),
            form,
            body.clone(),
            Some(now() + 600),
            SECRET
        )
        .await,
        401,
        "future"
    );
    assert_eq!(
        post(
            slack_url.clone(),
            "application/json",
            body.clone(),
            Some(now()),
            SECRET
        )
        .await,
        415
    );
    let huge = format!("payload={}", "a".repeat(70 * 1024));
    assert_eq!(
        post(slack_url.clone(), form, huge, Some(now()), SECRET).await,
        413
    );
    assert_eq!(
        post(
            slack_url.clone(),
            form,
            "payload=%7Bnot".into(),
            Some(now()),
            SECRET
        )
        .await,
        400
    );
    let mm_url = bot.url.replace("/slack/commands", "/mattermost/actions");
    assert_eq!(
        post(mm_url.clone(), form, "user_id=u".into(), None, SECRET).await,
        415
    );
    assert_eq!(
        post(
            mm_url.clone(),
            "application/json",
            "x".repeat(70 * 1024),
            None,
            SECRET
        )
        .await,
        413
    );
    assert_eq!(
        post(
            mm_url,
            "application/json",
            "{\"user_id\":\"u\"}".into(),
            None,
            SECRET
        )
        .await,
        401,
        "no token"
    );
    let metrics = bot.metrics_text().await;
    assert!(
        metrics.contains("reason=\"stale_timestamp\"} 2"),
        "{metrics}"
    );
    assert!(
        sim.state().calls().is_empty(),
        "nothing reached the product"
    );
    assert!(
        bot.audit_rows(0)
            .await
            .iter()
            .all(|r| !r.command_text.starts_with('[')),
        "no click ran"
    );
    bot.bot.stop().await;
}
