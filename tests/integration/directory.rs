//! `delete-directory` over real HTTP against the simulator: the prompt says what is lost,
//! nothing is deleted before the directory id is typed (Slack modal, Mattermost dialog,
//! or `confirm <code> <id>`), enough distinct admins confirm, exactly one DELETE goes to
//! the right path after a snapshot revision, and "Recreate and sync" is the way back.

use serde_json::{json, Value};
use usersync_bot::simulator::SimulatorHandle;
use usersync_bot::usersync::ApiFlavour;

use crate::changes::{block_actions, mm_actions, slack_token, MM_ADMIN};
use crate::support::bot::*;
use crate::support::*;

const OKTA_DIRECTORY: &str = "10200";
const SECOND_ADMIN: &str = "U0ADMIN02";

/// The DELETE requests the simulator received: (path, X-Atlassian-Token).
fn deletes(sim: &SimulatorHandle) -> Vec<(String, Option<String>)> {
    sim.state()
        .calls()
        .into_iter()
        .filter(|c| c.method == "DELETE")
        .map(|c| (c.path, c.atlassian_token))
        .collect()
}

fn slack_calls(slack: &FakeSlackHandle, path: &str) -> Vec<Value> {
    slack
        .received()
        .into_iter()
        .filter(|(p, _)| p == path)
        .map(|(_, b)| b)
        .collect()
}

/// The code of the `/usersync confirm <code> <directory>` command a prompt shows.
fn confirm_code(text: &str) -> String {
    text.split("/usersync confirm ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no confirm command in {text}"))
        .to_string()
}

async fn slack_bot(
    sim: &SimulatorHandle,
    slack: &FakeSlackHandle,
    approvals: u32,
    bot_token: bool,
) -> TestBot {
    let guards = format!("[guards]\ndelete_directory_approvals = {approvals}\n");
    let mut setup = BotSetup::new(sim);
    setup.extra = &guards;
    if bot_token {
        setup.slack_extra = format!(
            "bot_token = \"xoxb-test-token\"\napi_base_url = \"http://{}/api\"",
            slack.addr
        );
    }
    setup.admin_extra = format!(", \"slack:{SECOND_ADMIN}\"");
    setup.start().await
}

/// Clicks the prompt's confirm button and returns the modal Slack was asked to open.
async fn open_modal(
    bot: &TestBot,
    slack: &FakeSlackHandle,
    user: &str,
    token: &str,
    n: usize,
) -> Value {
    let body = block_actions(
        user,
        "usersync_confirm",
        token,
        &slack.response_url("prompt"),
    );
    assert_eq!(bot.slack_click_signed(&body, SECRET).await, 200);
    wait_for("views.open", || async {
        slack_calls(slack, "/api/views.open").get(n).cloned()
    })
    .await["view"]
        .clone()
}

/// Submits the modal with `entered`; returns the JSON answer.
async fn submit_modal(bot: &TestBot, user: &str, view: &Value, entered: &str) -> Value {
    let payload = json!({
        "type": "view_submission",
        "team": {"id": "T0001"},
        "user": {"id": user, "username": "admin", "name": "admin", "team_id": "T0001"},
        "api_app_id": "A123456",
        "view": {
            "id": "V1", "type": "modal", "callback_id": view["callback_id"],
            "private_metadata": view["private_metadata"], "hash": "h",
            "state": {"values": {"typed": {"value": {"type": "plain_text_input", "value": entered}}}},
        },
    });
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("payload", &payload.to_string());
    let body = form.finish();
    let ts = now();
    let r = bot
        .http
        .post(bot.interactions_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts.to_string())
        .header(
            "x-slack-signature",
            usersync_bot::chat::slack::verify::sign(SECRET, ts, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn a_directory_is_deleted_once_after_its_id_is_typed_and_can_be_recreated() {
    let sim = simulator(ApiFlavour::V2, std::time::Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let bot = slack_bot(&sim, &slack, 1, true).await;
    let reply = bot.say_to(&slack, ADMIN, "delete-directory okta").await;
    let text = visible(&reply);
    assert_eq!(reply["response_type"], "in_channel", "the channel sees it");
    assert!(text.contains("Delete directory 10200 of Okta?"), "{text}");
    assert!(text.contains("There is no undo"), "{text}");
    assert!(text.contains("users at its last sync"), "{text}");
    // The directory id names the same connector.
    let by_id = visible(&bot.say_to(&slack, ADMIN, "delete-directory 10200").await);
    assert!(by_id.contains("Delete directory 10200 of Okta?"), "{by_id}");
    let unknown = visible(&bot.say_to(&slack, ADMIN, "delete-directory 99999").await);
    assert!(
        unknown.contains("No connector fills directory 99999"),
        "{unknown}"
    );
    let token = slack_token(&reply, "usersync_confirm");

    // Someone else cannot even open the form.
    let other = bot
        .slack_click(&slack, OPERATOR, "usersync_confirm", &token, "other")
        .await;
    assert!(visible(&other).contains("can confirm this"), "{other}");

    let view = open_modal(&bot, &slack, ADMIN, &token, 0).await;
    assert_eq!(view["type"], "modal");
    let wrong = submit_modal(&bot, ADMIN, &view, "10201").await;
    assert_eq!(wrong["response_action"], "errors");
    assert!(
        wrong["errors"]["typed"]
            .as_str()
            .unwrap()
            .contains("type 10200 exactly"),
        "{wrong}"
    );
    // A forged form state is refused in the form too.
    let mut forged = view.clone();
    forged["private_metadata"] =
        json!(view["private_metadata"].as_str().unwrap().replace('"', "'"));
    let refused = submit_modal(&bot, ADMIN, &forged, OKTA_DIRECTORY).await;
    assert!(
        refused["errors"]["typed"]
            .as_str()
            .unwrap()
            .contains("not valid"),
        "{refused}"
    );
    assert!(deletes(&sim).is_empty(), "nothing deleted yet");

    let right = submit_modal(&bot, ADMIN, &view, OKTA_DIRECTORY).await;
    assert_eq!(right, json!({}), "the form closes");
    let result = wait_for("the deletion's result", || async {
        slack_calls(&slack, "/commands/T0001/prompt")
            .into_iter()
            .find(|b| visible(b).contains("deleted"))
    })
    .await;
    let text = visible(&result);
    assert_eq!(result["replace_original"], true);
    assert!(text.contains("Directory 10200 of Okta deleted"), "{text}");
    assert!(text.contains("revision #1"), "{text}");
    assert_eq!(
        deletes(&sim),
        vec![(
            format!("/rest/samlsso-admin/1.0/directory/{OKTA_DIRECTORY}"),
            Some("no-check".into())
        )]
    );
    // The same submission again does nothing.
    let again = submit_modal(&bot, ADMIN, &view, OKTA_DIRECTORY).await;
    assert!(
        again["errors"]["typed"]
            .as_str()
            .unwrap()
            .contains("already confirmed"),
        "{again}"
    );
    assert_eq!(deletes(&sim).len(), 1);
    let history = visible(&bot.say_to(&slack, ADMIN, "history okta").await);
    assert!(
        history.contains("#1"),
        "the snapshot is in the history: {history}"
    );

    // `run` and `user` on the connector say the directory is gone, and send nothing.
    let calls = sim
        .state()
        .calls()
        .iter()
        .filter(|c| c.method != "GET")
        .count();
    let run = bot.say_to(&slack, OPERATOR, "run okta").await;
    assert!(
        visible(&run).contains("The directory of Okta was deleted"),
        "{run}"
    );
    assert!(visible(&run).contains("An admin can do it"), "{run}");
    let user = visible(
        &bot.say_to(&slack, HELPDESK, "user okta alice.anderson")
            .await,
    );
    assert!(user.contains("nowhere to go"), "{user}");
    let admin_run = bot.say_to(&slack, ADMIN, "run okta").await;
    assert!(
        visible(&admin_run).contains("Recreate and sync"),
        "{admin_run}"
    );
    assert_eq!(
        sim.state()
            .calls()
            .iter()
            .filter(|c| c.method != "GET")
            .count(),
        calls,
        "no sync, no user update"
    );

    // The way back.
    let recreate = slack_token(&result, "usersync_confirm");
    let before = sim.state().calls().len();
    let back = bot
        .slack_click(&slack, ADMIN, "usersync_confirm", &recreate, "back")
        .await;
    let text = visible(&back);
    assert!(text.contains("Directory of Okta recreated"), "{text}");
    assert!(text.contains("exists again as directory 10500"), "{text}");
    let calls: Vec<(String, String)> = sim.state().calls()[before..]
        .iter()
        .map(|c| (c.method.clone(), c.body.clone()))
        .filter(|(m, _)| m != "GET")
        .collect();
    assert_eq!(
        calls[0],
        ("PATCH".to_string(), "{}".to_string()),
        "{calls:?}"
    );
    assert!(
        calls.iter().any(|(m, _)| m == "POST"),
        "a sync was started: {calls:?}"
    );
    let audit: Vec<String> = bot
        .audit_rows(8)
        .await
        .into_iter()
        .map(|r| format!("{} → {}", r.command_text, r.outcome))
        .collect();
    assert!(
        audit
            .iter()
            .any(|r| r.starts_with("[typed] /usersync delete-directory okta → directory deleted")),
        "{audit:?}"
    );
    assert!(
        audit
            .iter()
            .any(|r| r.contains("refused: the typed directory id did not match")),
        "{audit:?}"
    );
    bot.bot.stop().await;
}

#[tokio::test]
async fn two_admins_must_confirm_and_the_requesters_second_confirmation_does_not_count() {
    let sim = simulator(ApiFlavour::V2, std::time::Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let bot = slack_bot(&sim, &slack, 2, true).await;
    let reply = bot.say_to(&slack, ADMIN, "delete-directory okta").await;
    assert!(visible(&reply).contains("2 admins must confirm"), "{reply}");
    let token = slack_token(&reply, "usersync_confirm");
    // The second admin cannot go first.
    let early = bot
        .slack_click(&slack, SECOND_ADMIN, "usersync_confirm", &token, "early")
        .await;
    assert!(visible(&early).contains("can confirm this"), "{early}");

    let view = open_modal(&bot, &slack, ADMIN, &token, 0).await;
    assert_eq!(
        submit_modal(&bot, ADMIN, &view, OKTA_DIRECTORY).await,
        json!({})
    );
    let waiting = wait_for("the first confirmation", || async {
        slack_calls(&slack, "/commands/T0001/prompt")
            .into_iter()
            .find(|b| visible(b).contains("1 of 2"))
    })
    .await;
    assert!(
        visible(&waiting).contains("confirmed by @admin"),
        "{waiting}"
    );
    assert!(deletes(&sim).is_empty(), "one admin is not enough");
    let twice = bot
        .slack_click(&slack, ADMIN, "usersync_confirm", &token, "twice")
        .await;
    assert!(
        visible(&twice).contains("You confirmed this already"),
        "{twice}"
    );

    // The second admin confirms on the message the channel now sees.
    let token = slack_token(&waiting, "usersync_confirm");
    let view = open_modal(&bot, &slack, SECOND_ADMIN, &token, 1).await;
    assert_eq!(
        submit_modal(&bot, SECOND_ADMIN, &view, OKTA_DIRECTORY).await,
        json!({})
    );
    wait_for("the deletion", || async {
        (deletes(&sim).len() == 1).then_some(())
    })
    .await;
    bot.bot.stop().await;
}

#[tokio::test]
async fn without_a_bot_token_the_deletion_is_confirmed_by_typing_a_command() {
    let sim = simulator(ApiFlavour::V1_9, std::time::Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let bot = slack_bot(&sim, &slack, 1, false).await;
    let reply = bot.say_to(&slack, ADMIN, "delete-directory okta").await;
    let text = visible(&reply);
    let code = confirm_code(&text);
    let other = visible(
        &bot.say_to(&slack, SECOND_ADMIN, &format!("confirm {code} 10200"))
            .await,
    );
    assert!(other.contains("can confirm this"), "{other}");
    let wrong = visible(
        &bot.say_to(&slack, ADMIN, &format!("confirm {code} 10300"))
            .await,
    );
    assert!(wrong.contains("type 10200 exactly"), "{wrong}");
    let viewer = visible(
        &bot.say_to(&slack, VIEWER, &format!("confirm {code} 10200"))
            .await,
    );
    assert!(viewer.contains("admin"), "{viewer}");
    assert!(deletes(&sim).is_empty());
    let done = visible(
        &bot.say_to(&slack, ADMIN, &format!("confirm {code} 10200"))
            .await,
    );
    assert!(done.contains("Directory 10200 of Okta deleted"), "{done}");
    assert_eq!(deletes(&sim).len(), 1);
    let replay = visible(
        &bot.say_to(&slack, ADMIN, &format!("confirm {code} 10200"))
            .await,
    );
    assert!(replay.contains("already confirmed and made"), "{replay}");
    assert_eq!(deletes(&sim).len(), 1);
    bot.bot.stop().await;
}

#[tokio::test]
async fn a_deletion_confirmed_and_cut_off_before_it_was_done_is_not_called_done() {
    let sim = simulator(ApiFlavour::V1_9, std::time::Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let bot = slack_bot(&sim, &slack, 1, false).await;
    let text = visible(&bot.say_to(&slack, ADMIN, "delete-directory okta").await);
    let code = confirm_code(&text);
    // Used up, and the process died before the DELETE: as a kill between the two leaves it.
    assert!(bot
        .bot
        .app
        .store
        .settle_pending(
            &code,
            usersync_bot::store::PendingState::Confirmed,
            "@first",
            "a-replica-gone",
            chrono::Utc::now()
        )
        .await
        .unwrap());
    let again = visible(
        &bot.say_to(&slack, ADMIN, &format!("confirm {code} 10200"))
            .await,
    );
    assert!(
        again.contains("Confirmed before, no result recorded"),
        "{again}"
    );
    assert!(again.contains("It was confirmed by @first"), "{again}");
    assert!(!again.contains("already confirmed"), "{again}");
    assert!(
        deletes(&sim).is_empty(),
        "nothing deleted by the second try"
    );
    bot.bot.stop().await;
}

#[tokio::test]
async fn on_mattermost_the_directory_id_is_typed_into_a_dialog() {
    let sim = simulator(ApiFlavour::V2, std::time::Duration::from_millis(50)).await;
    let mm = FakeMattermostHandle::start().await;
    let mut setup = BotSetup::new(&sim);
    setup.mattermost = Some(mm_section(&mm.url(), Some("mm-bot-token")));
    setup.admin_extra = format!(", \"mattermost:{MM_ADMIN}\"");
    setup.top_extra = "public_url = \"https://usersync-bot.example.com\"".into();
    let bot = setup.start().await;
    let reply = bot
        .mm_say(
            MM_ADMIN,
            MM_OPS_CHANNEL,
            "delete-directory okta",
            &mm.response_url("p"),
        )
        .await;
    assert_eq!(reply["response_type"], "in_channel");
    let confirm = mm_actions(&reply)[0].3.clone();
    let (status, opened) = bot.mm_click(MM_ADMIN, confirm).await;
    assert_eq!((status, opened), (200, json!({})));
    let dialog = wait_for("dialogs/open", || async {
        mm.received()
            .into_iter()
            .find(|(_, path, _, _)| path == "/api/v4/actions/dialogs/open")
            .map(|(_, _, auth, body)| (auth, body))
    })
    .await;
    assert_eq!(dialog.0.as_deref(), Some("Bearer mm-bot-token"));
    assert_eq!(
        dialog.1["url"],
        "https://usersync-bot.example.com/mattermost/dialogs"
    );
    let state = dialog.1["dialog"]["state"].as_str().unwrap().to_string();
    let submit = |entered: &str, state: &str| {
        let body = json!({
            "type": "dialog_submission", "callback_id": dialog.1["dialog"]["callback_id"],
            "state": state, "user_id": MM_ADMIN, "channel_id": MM_OPS_CHANNEL,
            "team_id": "team1", "submission": {"typed": entered}, "cancelled": false,
        });
        let http = bot.http.clone();
        let url = bot.url.replace("/slack/commands", "/mattermost/dialogs");
        async move {
            let r = http.post(url).json(&body).send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, wrong) = submit("10201", &state).await;
    assert_eq!(status, 200);
    assert!(
        wrong["errors"]["typed"]
            .as_str()
            .unwrap()
            .contains("type 10200 exactly"),
        "{wrong}"
    );
    let (_, forged) = submit(OKTA_DIRECTORY, &state.replace("\"t\":\"", "\"t\":\"0")).await;
    assert!(
        forged["errors"]["typed"]
            .as_str()
            .unwrap()
            .contains("not valid"),
        "{forged}"
    );
    assert!(deletes(&sim).is_empty());
    let (_, done) = submit(OKTA_DIRECTORY, &state).await;
    assert_eq!(done, json!({}));
    assert_eq!(deletes(&sim).len(), 1);
    let posted = wait_for("the result post", || async {
        mm.received().into_iter().find(|(m, path, _, body)| {
            m == "POST"
                && path == "/api/v4/posts"
                && body["message"]
                    .as_str()
                    .is_some_and(|t| t.contains("deleted"))
        })
    })
    .await;
    assert_eq!(posted.3["channel_id"], MM_OPS_CHANNEL);
    bot.bot.stop().await;
}

#[tokio::test]
async fn a_mass_deletion_is_an_alert_and_run_asks_first_until_an_admin_acknowledges() {
    use usersync_bot::simulator::UserUpdate;
    let sim = simulator(ApiFlavour::V2, std::time::Duration::from_millis(100)).await;
    let slack = FakeSlackHandle::start().await;
    let extra = "[jobs]\npoll_interval = \"50ms\"\nmax_wait = \"1m\"\n\n[guards]\nmax_deleted = 1\n\n[[notify]]\nconnectors = [\"*\"]\nchannel = \"slack:C0FAILURES\"\non = [\"failure\"]\n";
    let mut setup = BotSetup::new(&sim);
    setup.extra = extra;
    setup.slack_extra = format!(
        "bot_token = \"xoxb-test-token\"\napi_base_url = \"http://{}/api\"",
        slack.addr
    );
    let bot = setup.start().await;
    // Two users leave the identity provider: the next sync deletes both.
    for name in ["leaver.one", "leaver.two"] {
        sim.state()
            .put_user(OKTA, name, UserUpdate::default())
            .unwrap();
    }
    let first = bot.command(&run_cmd(&slack, "run okta", "before")).await;
    assert!(visible(&first).contains("Sync of Okta started"), "{first}");
    let ordinary = wait_outcome(&slack, 1).await;
    assert!(
        !visible(&ordinary[0].1).contains("Mass deletion"),
        "one deletion is within the guard"
    );
    for name in ["leaver.one", "leaver.two"] {
        sim.state().remove_user(OKTA, name).unwrap();
    }
    let triggers = || {
        sim.state()
            .calls()
            .iter()
            .filter(|c| c.method == "POST" && c.path.ends_with("/sync"))
            .count()
    };
    bot.command(&run_cmd(&slack, "run okta", "mass")).await;
    let outcome = wait_for("the alert", || async {
        outcomes(&slack)
            .into_iter()
            .map(|(_, b)| visible(&b))
            .find(|t| t.contains("Mass deletion"))
    })
    .await;
    assert!(
        outcome.contains("users — more than the 1 that [guards] max_deleted allows"),
        "{outcome}"
    );
    assert!(outcome.contains("/usersync acknowledge Okta"), "{outcome}");
    // The failure route hears of it too, once.
    let to_failures = wait_for("the alert on the failure route", || async {
        let posts: Vec<Value> = slack_calls(&slack, "/api/chat.postMessage")
            .into_iter()
            .filter(|b| b["channel"] == "C0FAILURES" && visible(b).contains("Mass deletion"))
            .collect();
        (!posts.is_empty()).then_some(posts)
    })
    .await;
    assert_eq!(to_failures.len(), 1);

    // Now `run` asks first, and sends nothing until confirmed.
    let before = triggers();
    let asks = bot.command(&run_cmd(&slack, "run okta", "asks")).await;
    let text = visible(&asks);
    assert!(text.contains("Run Okta anyway?"), "{text}");
    assert_eq!(triggers(), before, "nothing triggered before the click");
    let token = slack_token(&asks, "usersync_confirm");
    let not_admin = visible(&bot.say_to(&slack, OPERATOR, "acknowledge okta").await);
    assert!(not_admin.contains("admin"), "{not_admin}");
    let ran = bot
        .slack_click(&slack, OPERATOR, "usersync_confirm", &token, "anyway")
        .await;
    assert!(visible(&ran).contains("Sync of Okta started"), "{ran}");
    assert_eq!(triggers(), before + 1, "one sync, on the confirming click");
    wait_for("the sync to end", || async {
        sim.state()
            .last_sync_status(OKTA)
            .ok()
            .filter(|s| s["status"] != "RUNNING" && s["status"] != "SCHEDULED")
    })
    .await;

    // An admin acknowledges: `run` no longer asks.
    let ack = visible(&bot.say_to(&slack, ADMIN, "acknowledge okta").await);
    assert!(ack.contains("Alert on Okta acknowledged"), "{ack}");
    let again = visible(&bot.say_to(&slack, ADMIN, "acknowledge okta").await);
    assert!(again.contains("No open alert on Okta"), "{again}");
    let plain = bot.command(&run_cmd(&slack, "run okta", "plain")).await;
    assert!(!visible(&plain).contains("anyway"), "{plain}");
    bot.bot.stop().await;
}

#[tokio::test]
async fn a_deletion_confirmed_after_its_ttl_deletes_nothing() {
    let sim = simulator(ApiFlavour::V2, std::time::Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let mut setup = BotSetup::new(&sim);
    setup.extra = "[confirm]\nttl = \"1s\"\n";
    let bot = setup.start().await;
    let text = visible(&bot.say_to(&slack, ADMIN, "delete-directory okta").await);
    let code = confirm_code(&text);
    let expiry = std::time::Instant::now() + std::time::Duration::from_millis(1100);
    wait_for("the ttl to pass", || async {
        (std::time::Instant::now() >= expiry).then_some(())
    })
    .await;
    let late = visible(
        &bot.say_to(&slack, ADMIN, &format!("confirm {code} 10200"))
            .await,
    );
    assert!(late.contains("This confirmation expired"), "{late}");
    assert!(deletes(&sim).is_empty());
    bot.bot.stop().await;
}
