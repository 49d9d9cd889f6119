//! Every command over real HTTP: what a person reads, what the product received, what the
//! audit recorded; roles, names, quoting, escaping, redaction, deferred replies,
//! re-delivery.

use std::time::Duration;

use crate::support::bot::*;
use crate::support::*;
use serde_json::Value;
use usersync_bot::simulator::{Faults, SimulatorHandle};
use usersync_bot::store::Decision;
use usersync_bot::usersync::ApiFlavour;

async fn setup() -> (SimulatorHandle, TestBot) {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(100)).await;
    let bot = BotSetup::new(&sim).start().await;
    (sim, bot)
}

fn methods(sim: &SimulatorHandle) -> Vec<String> {
    sim.state()
        .calls()
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c.method,
                c.path
                    .trim_start_matches("/rest/samlsso-admin/1.0/usersync")
            )
        })
        .collect()
}

#[tokio::test]
async fn help_lists_what_the_user_may_run_first_with_examples() {
    let (sim, bot) = setup().await;
    let viewer = blocks_text(&bot.say(VIEWER, "help").await);
    let mine = viewer.split("Needs another role").next().unwrap();
    assert!(mine.contains("`/usersync status &lt;connector&gt;` — The connector's last sync. e.g. `/usersync status \"Azure AD\"`"), "{viewer}");
    assert!(
        !mine.contains("/usersync run"),
        "a viewer is not offered run first: {viewer}"
    );
    assert!(viewer.contains("`/usersync run &lt;connector&gt; [--local]` — operator or higher"));
    assert!(viewer.contains("You have the viewer role."));

    let operator = blocks_text(&bot.say(OPERATOR, "").await);
    let mine = operator.split("Needs another role").next().unwrap();
    assert!(mine.contains("/usersync run"), "{operator}");

    let one = visible(&bot.say(VIEWER, "help run").await);
    assert!(
        one.contains("`/usersync run &lt;connector&gt; [--local]`"),
        "{one}"
    );
    assert!(one.contains("operator or higher"));
    assert!(one.contains("You have the viewer role: you cannot run this."));
    assert!(
        sim.state().calls().is_empty(),
        "help never calls the product"
    );
}

#[tokio::test]
async fn whoami_tells_the_principal_and_its_role() {
    let (_sim, bot) = setup().await;
    let text = visible(&bot.say(HELPDESK, "whoami").await);
    assert!(text.contains("`slack:U0HELP001`"), "{text}");
    assert!(text.contains("*Role*\nhelpdesk"), "{text}");
}

#[tokio::test]
async fn connectors_lists_id_kind_directory_and_last_outcome() {
    let (sim, bot) = setup().await;
    let text = visible(&bot.say(VIEWER, "list").await);
    for expected in [
        "*Azure AD* — AZURE_AD · id `7df9fd3f-793f-4595-b415-b839b76b0018` · directory 10100 · last sync: ✅ 91 DONE SUCCESS",
        "*Okta* — OKTA · id `0b8a2f64-93c1-4d4e-8f0a-6c1e5d2b7a90` · directory 10200 · last sync: ⚠️ 92 DONE SUCCESS",
        "*Corporate LDAP* — LDAP",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in {text}");
    }
    assert_eq!(
        sim.state().calls().len(),
        5,
        "one list and one status per connector"
    );
}

#[tokio::test]
async fn status_shows_every_count_and_the_messages() {
    let (sim, bot) = setup().await;
    let reply = bot.say(VIEWER, "status \"Azure AD\"").await;
    let text = visible(&reply);
    assert!(
        text.contains("✅ Azure AD — sync 91: DONE · SUCCESS"),
        "{text}"
    );
    for label in [
        "Added",
        "Updated",
        "Deleted",
        "Failed",
        "Filtered",
        "Not modified",
        "Total",
        "Sync id",
        "Started",
        "Duration",
        "Cluster node",
    ] {
        assert!(
            text.contains(&format!("*{label}*\n")),
            "no {label} in {text}"
        );
    }
    assert!(text.contains("*Total*\n25"));
    assert!(text.contains("*Duration*\n100 ms"), "{text}");
    assert!(text.contains("• Scheduled with jobid "));
    assert!(
        text.contains("Skipping admin or sysadmin &lt;admin&gt;"),
        "product text is escaped too"
    );
    assert_eq!(
        methods(&sim),
        [
            "GET /connector/",
            "GET /connector/7df9fd3f-793f-4595-b415-b839b76b0018/syncstatus"
        ]
    );
}

#[tokio::test]
async fn connectors_are_found_by_id_loose_name_or_prefix() {
    let (_sim, bot) = setup().await;
    for text in [
        "status 0b8a2f64-93c1-4d4e-8f0a-6c1e5d2b7a90",
        "status OKTA",
        "status ok",
        "status “Okta”",
    ] {
        let shown = visible(&bot.say(VIEWER, text).await);
        assert!(shown.contains("Okta — sync 92"), "{text}: {shown}");
    }
    let shown = visible(&bot.say(VIEWER, "status azure-ad").await);
    assert!(shown.contains("Azure AD — sync 91"), "{shown}");
}

#[tokio::test]
async fn an_unknown_connector_lists_the_candidates() {
    let (_sim, bot) = setup().await;
    let text = visible(&bot.say(VIEWER, "status nope").await);
    assert!(text.contains("No connector is called \"nope\""), "{text}");
    for name in [
        "`Azure AD`",
        "`Okta`",
        "`Google Workspace`",
        "`Corporate LDAP`",
    ] {
        assert!(text.contains(name), "{name} missing in {text}");
    }
}

#[tokio::test]
async fn an_ambiguous_name_across_instances_lists_both_and_instance_slash_name_picks_one() {
    let jira = simulator(ApiFlavour::V2, Duration::from_millis(100)).await;
    let conf = simulator(ApiFlavour::V1_9, Duration::from_millis(100)).await;
    let mut setup = BotSetup::new(&jira);
    setup.instances = vec![("jira", &jira, true), ("confluence", &conf, false)];
    let bot = setup.start().await;
    let text = visible(&bot.say(VIEWER, "status okta").await);
    assert!(
        text.contains("\"okta\" matches several connectors"),
        "{text}"
    );
    assert!(
        text.contains("`jira/Okta`") && text.contains("`confluence/Okta`"),
        "{text}"
    );
    assert!(conf
        .state()
        .calls()
        .iter()
        .all(|c| !c.path.ends_with("syncstatus")));

    let text = visible(&bot.say(VIEWER, "status confluence/okta").await);
    assert!(text.contains("Okta — sync 92"), "{text}");
    assert!(text.contains("instance confluence"), "{text}");
    assert!(jira
        .state()
        .calls()
        .iter()
        .all(|c| !c.path.ends_with("syncstatus")));
}

#[tokio::test]
async fn show_and_results_put_failures_first() {
    let (sim, bot) = setup().await;
    let text = visible(&bot.say(VIEWER, "show 92").await);
    assert!(text.contains("⚠️ Okta — sync 92: DONE · SUCCESS"), "{text}");
    assert!(text.contains("*Failed*\n2"));

    let reply = bot.say(VIEWER, "results 92").await;
    let text = visible(&reply);
    assert!(
        text.contains("Results of sync 92: 18 users, 2 failed"),
        "{text}"
    );
    let list = reply["blocks"][1]["text"]["text"].as_str().unwrap();
    let lines: Vec<&str> = list.lines().collect();
    assert!(
        lines[0].contains("*FAILED*") && lines[1].contains("*FAILED*"),
        "{list}"
    );
    assert!(!lines[2].contains("FAILED"));
    assert!(list.ends_with("… and 3 more"), "15 of 18 shown: {list}");
    assert!(text.contains("Add `--all` to see more."));

    let all = visible(&bot.say(VIEWER, "results 92 --all").await);
    assert!(!all.contains("… and"), "{all}");
    let queries: Vec<Option<String>> = sim
        .state()
        .calls()
        .iter()
        .map(|c| c.query.clone())
        .collect();
    assert!(queries.contains(&Some("count=-1".into())));

    let missing = visible(&bot.say(VIEWER, "show 424242").await);
    assert!(missing.contains("jira: sync 424242 not found"), "{missing}");
}

#[tokio::test]
async fn connector_settings_are_shown_with_secrets_redacted() {
    let (_sim, bot) = setup().await;
    for (name, secret) in [
        ("okta", "00SIM-okta-api-token"),
        ("ldap", "ldap-SIM-bind-pw"),
        ("google", "BEGIN PRIVATE KEY"),
        ("azure", "azure-SIM-client-secret"),
    ] {
        let reply = bot.say(VIEWER, &format!("connector {name}")).await;
        let raw = reply.to_string();
        assert!(!raw.contains(secret), "{secret} leaked: {raw}");
        assert!(raw.contains("••••••"), "{raw}");
    }
    let text = visible(&bot.say(VIEWER, "connector corporate").await);
    assert!(
        text.contains("ldaps://ldap.acme.example:636"),
        "non-secret settings stay: {text}"
    );
}

#[tokio::test]
async fn user_text_is_escaped_so_nobody_can_mention_or_link() {
    let (_sim, bot) = setup().await;
    for text in [
        "status <!channel>",
        "status <@U0ADMIN01>",
        "status <https://evil.example|click>",
        "<!here>",
    ] {
        let reply = bot.say(VIEWER, text).await;
        let raw = reply.to_string();
        for forbidden in ["<!channel>", "<!here>", "<@U0ADMIN01>", "<https://evil"] {
            assert!(
                !raw.contains(forbidden),
                "{forbidden} in reply to {text}: {raw}"
            );
        }
    }
}

#[tokio::test]
async fn mistakes_get_one_line_and_the_usage_never_an_error_status() {
    let (sim, bot) = setup().await;
    let cases = [
        (
            "stauts okta",
            "There is no command \"stauts\". Did you mean `status`?",
            "Try `/usersync help`.",
        ),
        (
            "status",
            "Missing &lt;connector&gt;.",
            "Usage: `/usersync status &lt;connector&gt;`",
        ),
        (
            "show abc",
            "\"abc\" is not a sync id (a number, like 94).",
            "Usage: `/usersync show &lt;sync-id&gt; [--instance NAME]`",
        ),
        (
            "status \"Azure AD",
            "Unclosed quote: add the closing \".",
            "Try `/usersync help`.",
        ),
        (
            "run okta --force",
            "`run` has no option --force.",
            "Usage: `/usersync run",
        ),
    ];
    for (text, problem, usage) in cases {
        let reply = bot.say(ADMIN, text).await;
        assert_eq!(reply["response_type"], "ephemeral");
        let shown = visible(&reply);
        assert!(shown.contains(problem), "{text}: {shown}");
        assert!(shown.contains(usage), "{text}: {shown}");
    }
    assert!(
        sim.state().calls().is_empty(),
        "a mistake calls nothing upstream"
    );
    let rows = bot.audit_rows(cases.len()).await;
    assert!(rows.iter().all(|r| r.decision == Decision::Invalid));
}

#[tokio::test]
async fn upstream_errors_are_shown_as_actionable_messages() {
    let (sim, bot) = setup().await;
    sim.state().set_faults(Faults {
        unauthorized: true,
        ..Faults::default()
    });
    let text = visible(&bot.say(VIEWER, "status okta").await);
    assert!(
        text.contains("jira: credentials rejected (HTTP 401)"),
        "{text}"
    );
    assert!(!text.contains("admin:admin"));
}

#[tokio::test]
async fn a_viewer_cannot_run_a_sync_and_nothing_is_sent_upstream() {
    let (sim, bot) = setup().await;
    let reply = bot.say(VIEWER, "run okta").await;
    assert_eq!(reply["response_type"], "ephemeral");
    let text = visible(&reply);
    assert!(
        text.contains("`run` needs the operator role; you have the viewer role."),
        "{text}"
    );
    let reply = bot.say(HELPDESK, "run okta").await;
    assert!(visible(&reply).contains("you have the helpdesk role"));
    // Both denials are audited once handled; by then nothing was sent upstream.
    let rows = bot.audit_rows(2).await;
    assert!(sim.state().calls().is_empty(), "{:?}", sim.state().calls());
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().all(|r| r.decision == Decision::Denied));
    assert_eq!(rows[1].command_text, "/usersync run okta");
    assert_eq!(rows[1].user_id, VIEWER);
}

#[tokio::test]
async fn with_no_role_for_everyone_a_stranger_gets_nothing() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(100)).await;
    let mut setup = BotSetup::new(&sim);
    setup.viewer_star = false;
    let bot = setup.start().await;
    let text = visible(&bot.say("U0STRANGER", "status okta").await);
    assert!(
        text.contains("`status` needs the viewer role; you have no role."),
        "{text}"
    );
    let help = visible(&bot.say("U0STRANGER", "help").await);
    assert!(help.contains("You have no role."), "{help}");
    assert!(sim.state().calls().is_empty());
}

#[tokio::test]
async fn helpdesk_updates_one_user_and_the_product_gets_the_exact_call() {
    let (sim, bot) = setup().await;
    let slack = FakeSlackHandle::start().await;
    let reply = bot
        .say_to(
            &slack,
            HELPDESK,
            "user azure \"jürgen müller\" --by-username",
        )
        .await;
    let text = visible(&reply);
    assert!(text.contains("✅ User update on Azure AD"), "{text}");
    assert!(text.contains("*Outcome*\n*UPDATED*"), "{text}");
    let calls = sim.state().calls();
    let post = calls.iter().find(|c| c.method == "POST").unwrap();
    assert_eq!(post.path, "/rest/samlsso-admin/1.0/usersync/connector/7df9fd3f-793f-4595-b415-b839b76b0018/syncsingle");
    assert_eq!(
        serde_json::from_str::<Value>(&post.body).unwrap(),
        serde_json::json!({"identifier": "jürgen müller", "overridePrimaryAttributeWithUsername": true})
    );
}

#[tokio::test]
async fn an_operator_runs_a_sync_in_the_allowed_channel_only() {
    let (sim, bot) = setup().await;
    let mut elsewhere = Cmd::new(OPERATOR, "run okta");
    elsewhere.channel = OTHER_CHANNEL;
    let text = visible(&bot.command(&elsewhere).await);
    assert!(
        text.contains("is allowed only in these channels: `slack:C0OPS0001`"),
        "{text}"
    );
    assert!(sim.state().calls().is_empty());

    let slack = FakeSlackHandle::start().await;
    let reply = bot.say_to(&slack, OPERATOR, "run okta --local").await;
    assert_eq!(reply["response_type"], "in_channel");
    let text = visible(&reply);
    assert!(text.contains("Sync of Okta started by @tester"), "{text}");
    let posts: Vec<_> = sim
        .state()
        .calls()
        .into_iter()
        .filter(|c| c.method == "POST")
        .collect();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].query.as_deref(), Some("local=true"));

    // While it runs, a second run is refused without a second trigger.
    sim.state()
        .update_settings(usersync_bot::simulator::SettingsUpdate {
            sync_duration_ms: Some(60_000),
            ..Default::default()
        });
    let reply = bot.say_to(&slack, ADMIN, "run azure").await;
    assert!(visible(&reply).contains("Sync of Azure AD started"));
    let again = visible(&bot.say_to(&slack, ADMIN, "run azure").await);
    assert!(again.contains("Azure AD is already syncing"), "{again}");
    let posts = calls_with(&sim, "POST");
    assert_eq!(posts, 2);
}

#[tokio::test]
async fn a_redelivered_request_runs_once_and_gets_the_same_answer() {
    let (sim, bot) = setup().await;
    let cmd = Cmd::new(VIEWER, "status okta");
    let first = bot.command(&cmd).await;
    let second = bot.command(&cmd).await;
    assert_eq!(first, second);
    assert_eq!(
        sim.state().calls().len(),
        2,
        "the second delivery called nothing"
    );
    // A later command's row comes after any row the redelivery could have written.
    let rows = bot.audited_probe().await;
    assert_eq!(
        rows.len(),
        2,
        "one row for the status, one for the probe: {rows:?}"
    );
    assert_eq!(rows[1].command_text, "/usersync status okta");
}

#[tokio::test]
async fn a_redelivered_run_after_a_restart_does_not_start_a_second_sync() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let setup = BotSetup::new(&sim);
    let db = setup.db.clone();
    let bot = setup.start().await;
    let slack = FakeSlackHandle::start().await;
    let mut cmd = Cmd::new(OPERATOR, "run okta");
    cmd.response_url = Some(slack.response_url("run"));
    let first = visible(&bot.command(&cmd).await);
    assert!(first.contains("Sync of Okta started"), "{first}");
    bot.bot.stop().await;
    let c = client(&sim, ApiFlavour::V2);
    wait_for("the sync to end while the bot is down", || async {
        c.last_sync_status(OKTA)
            .await
            .unwrap()
            .status
            .is_terminal()
            .then_some(())
    })
    .await;

    let mut again = BotSetup::new(&sim);
    again.db = db;
    let bot = again.start().await;
    let second = visible(&bot.command(&cmd).await);
    assert_eq!(
        second, first,
        "the re-delivery gets the first answer, kept in the store"
    );
    let posts = calls_with(&sim, "POST");
    assert_eq!(posts, 1);
}

#[tokio::test]
async fn a_redelivered_user_update_after_a_restart_gets_its_first_answer_and_does_not_run_again() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let setup = BotSetup::new(&sim);
    let db = setup.db.clone();
    let bot = setup.start().await;
    let mut cmd = Cmd::new(HELPDESK, "user okta alice.anderson");
    cmd.response_url = Some(slack.response_url("user"));
    let first = visible(&bot.command(&cmd).await);
    assert!(first.contains("alice.anderson"), "{first}");
    let updates = calls_with(&sim, "POST");
    assert_eq!(updates, 1);
    bot.bot.stop().await;

    let mut again = BotSetup::new(&sim);
    again.db = db;
    let bot = again.start().await;
    let second = visible(&bot.command(&cmd).await);
    assert_eq!(second, first, "the first answer, kept in the store");
    assert_eq!(calls_with(&sim, "POST"), updates, "not run again");
    bot.bot.stop().await;
}

#[tokio::test]
async fn a_redelivery_of_a_command_cut_off_by_a_restart_says_so_and_does_not_run_it() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let setup = BotSetup::new(&sim);
    let mut cmd = Cmd::new(OPERATOR, "run okta");
    cmd.response_url = Some(slack.response_url("cut"));
    // An earlier process claimed the delivery and died before it answered.
    let url = crate::support::pg::suite_database(&setup.db)
        .await
        .unwrap_or_else(|| format!("sqlite://{}", setup.db.display()));
    let store = usersync_bot::store::open(&url).await.unwrap();
    let earlier = "earlier-process";
    store
        .beat(earlier, Duration::from_millis(200))
        .await
        .unwrap();
    assert!(store
        .claim_delivery(usersync_bot::domain::Platform::Slack, &cmd.trigger, earlier)
        .await
        .unwrap());
    drop(store);
    // Its beat runs out (as a killed replica's does, within `[cluster] lease`).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let bot = setup.start().await;
    let text = visible(&bot.command(&cmd).await);
    // On SQLite the claim is older than the process; on PostgreSQL its replica is gone:
    // either way nothing can still be running it.
    assert!(text.contains("Cut off before it answered"), "{text}");
    assert!(
        text.contains("the bot stopped while it ran. It does not run again"),
        "{text}"
    );
    assert!(text.contains("/usersync jobs"), "{text}");
    assert_eq!(calls_with(&sim, "POST"), 0, "not run");
    bot.bot.stop().await;
}

#[tokio::test]
async fn a_redelivery_of_a_command_another_live_replica_claimed_is_on_its_way_until_that_replica_is_gone(
) {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let setup = BotSetup::new(&sim);
    let db = setup.db.clone();
    let bot = setup.start().await;
    let mut cmd = Cmd::new(OPERATOR, "run okta");
    cmd.response_url = Some(slack.response_url("other"));
    // Another replica, alive, claimed the delivery and is still at it.
    let url = crate::support::pg::suite_database(&db)
        .await
        .unwrap_or_else(|| format!("sqlite://{}", db.display()));
    let store = usersync_bot::store::open(&url).await.unwrap();
    let other = "other-replica";
    store.beat(other, Duration::from_secs(60)).await.unwrap();
    assert!(store
        .claim_delivery(usersync_bot::domain::Platform::Slack, &cmd.trigger, other)
        .await
        .unwrap());
    let text = visible(&bot.command(&cmd).await);
    assert!(text.contains("Already received"), "{text}");
    // That replica stops (or its beat runs out): the claim was cut off.
    store.leave(other).await.unwrap();
    let text = visible(&bot.command(&cmd).await);
    assert!(text.contains("Cut off before it answered"), "{text}");
    assert_eq!(calls_with(&sim, "POST"), 0, "not run, by either");
    drop(store);
    bot.bot.stop().await;
}

/// A bot with a 300 ms inline budget in front of a product that takes 600 ms a call:
/// every read is acknowledged first and answered through `response_url`.
async fn slow_product_bot() -> (SimulatorHandle, FakeSlackHandle, TestBot) {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(100)).await;
    let slack = FakeSlackHandle::start().await;
    let mut setup = BotSetup::new(&sim);
    setup.inline_budget = "300ms";
    let bot = setup.start().await;
    sim.state().set_faults(Faults {
        latency_ms: 600,
        ..Faults::default()
    });
    (sim, slack, bot)
}

#[tokio::test]
async fn a_redelivery_after_the_answer_went_through_response_url_gets_that_answer_not_on_its_way() {
    let (sim, slack, bot) = slow_product_bot().await;
    let mut cmd = Cmd::new(VIEWER, "status okta");
    cmd.response_url = Some(slack.response_url("deferred"));
    let ack = visible(&bot.command(&cmd).await);
    assert!(ack.contains("Working on it…"), "{ack}");
    let reads = || calls_with(&sim, "GET");
    // While it runs, a re-delivery is told its answer is on its way.
    let during = visible(&bot.command(&cmd).await);
    assert!(during.contains("Already received"), "{during}");
    let posted = wait_for("the follow-up", || async {
        slack
            .received()
            .into_iter()
            .find(|(p, _)| p.ends_with("/deferred"))
            .map(|(_, b)| visible(&b))
    })
    .await;
    assert!(posted.contains("Okta — sync 92"), "{posted}");
    let asked = reads();
    // Once answered, a re-delivery gets that answer, without asking the product again.
    let after = visible(&bot.command(&cmd).await);
    assert_eq!(after, posted);
    assert_eq!(reads(), asked, "not run again");
}

#[tokio::test]
async fn a_slow_read_is_acknowledged_at_once_and_answered_through_response_url() {
    let (sim, slack, bot) = slow_product_bot().await;
    let mut cmd = Cmd::new(VIEWER, "status okta");
    cmd.response_url = Some(slack.response_url("slow"));
    let started = std::time::Instant::now();
    let ack = bot.command(&cmd).await;
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "the ack does not wait for the product"
    );
    assert!(
        visible(&ack).contains("Working on it…"),
        "{}",
        visible(&ack)
    );
    assert_eq!(ack["response_type"], "ephemeral");

    let received = wait_for("the follow-up", || async {
        let r = slack.received();
        (!r.is_empty()).then_some(r)
    })
    .await;
    assert_eq!(received.len(), 1);
    let (path, body) = &received[0];
    assert_eq!(path, "/commands/T0001/slow");
    assert_eq!(body["replace_original"], false);
    assert_eq!(body["response_type"], "ephemeral");
    assert!(visible(body).contains("Okta — sync 92"), "{body}");
    let rows = bot.audit_rows(1).await;
    assert_eq!(rows[0].outcome, "ok");

    // Without latency the same read is answered inline and nothing is posted.
    sim.state().set_faults(Faults::default());
    let mut fast = Cmd::new(VIEWER, "status okta");
    fast.response_url = Some(slack.response_url("fast"));
    let reply = bot.command(&fast).await;
    assert!(visible(&reply).contains("Okta — sync 92"));
    // A later slow read's follow-up arrives; the inline one was never posted.
    sim.state().set_faults(Faults {
        latency_ms: 600,
        ..Faults::default()
    });
    let mut later = Cmd::new(VIEWER, "status okta");
    later.response_url = Some(slack.response_url("later"));
    bot.command(&later).await;
    let received = wait_for("the later follow-up", || async {
        let r = slack.received();
        (r.len() >= 2).then_some(r)
    })
    .await;
    let paths: Vec<_> = received.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, ["/commands/T0001/slow", "/commands/T0001/later"]);
}

#[tokio::test]
async fn follow_ups_go_only_to_allowed_hosts() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(100)).await;
    let slack = FakeSlackHandle::start().await;
    let mut setup = BotSetup::new(&sim);
    setup.inline_budget = "200ms";
    setup.response_hosts = vec!["hooks.slack.com".into()];
    let bot = setup.start().await;
    sim.state().set_faults(Faults {
        latency_ms: 400,
        ..Faults::default()
    });
    let mut cmd = Cmd::new(VIEWER, "status okta");
    cmd.response_url = Some(slack.response_url("ssrf"));
    let ack = bot.command(&cmd).await;
    assert!(visible(&ack).contains("Working on it…"));
    bot.wait_failed_followups(1).await;
    assert!(
        slack.received().is_empty(),
        "nothing was posted to a host not allowed"
    );
}

#[tokio::test]
async fn every_command_is_audited_with_who_where_what_and_outcome() {
    let (_sim, bot) = setup().await;
    bot.say(VIEWER, "status okta").await;
    bot.say(VIEWER, "run okta").await;
    bot.say(VIEWER, "frobnicate").await;
    let rows = bot.audit_rows(3).await;
    let summary: Vec<(String, Decision, String, String)> = rows
        .iter()
        .rev()
        .map(|r| {
            (
                r.command_text.clone(),
                r.decision,
                r.user_id.clone(),
                r.channel_id.clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "/usersync status okta".into(),
                Decision::Allowed,
                VIEWER.into(),
                OPS_CHANNEL.into()
            ),
            (
                "/usersync run okta".into(),
                Decision::Denied,
                VIEWER.into(),
                OPS_CHANNEL.into()
            ),
            (
                "/usersync frobnicate".into(),
                Decision::Invalid,
                VIEWER.into(),
                OPS_CHANNEL.into()
            ),
        ]
    );
    assert_eq!(rows[2].outcome, "ok");
    assert!(rows[1].outcome.starts_with("denied"), "{}", rows[1].outcome);
    assert!(rows
        .iter()
        .all(|r| r.platform == usersync_bot::domain::Platform::Slack));
}

#[tokio::test]
async fn help_is_the_same_for_everyone_with_the_same_role_here_and_names_nobody() {
    let (_sim, bot) = setup().await;
    let first = bot.say(VIEWER, "help").await;
    let other = bot.say("U0ANOTHER1", "help").await;
    assert_eq!(first, other, "two viewers read the same help");
    assert!(!first.to_string().contains(VIEWER), "{first}");
    let operator = bot.say(OPERATOR, "help").await;
    assert_ne!(first, operator, "another role reads other help");
    let mut elsewhere = Cmd::new(OPERATOR, "help");
    elsewhere.channel = OTHER_CHANNEL;
    let elsewhere = visible(&bot.command(&elsewhere).await);
    let mine = elsewhere
        .split("Needs another role")
        .next()
        .unwrap_or_default();
    assert!(
        !mine.contains("/usersync run"),
        "run is not offered where it is not allowed: {elsewhere}"
    );
    let topic = visible(&bot.say(OPERATOR, "help run").await);
    assert!(topic.contains("You may run this here."), "{topic}");
}

#[tokio::test]
async fn the_audit_writer_reports_what_it_wrote_and_what_waits_in_metrics() {
    let (_sim, bot) = setup().await;
    for _ in 0..3 {
        bot.say(VIEWER, "whoami").await;
    }
    bot.audit_rows(3).await;
    let metrics = wait_for("the rows to be counted as written", || async {
        let m = bot.metrics_text().await;
        m.contains("usersync_bot_audit_rows_written_total 3")
            .then_some(m)
    })
    .await;
    assert!(
        metrics.contains("usersync_bot_audit_backlog 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("usersync_bot_audit_write_failures_total 0"),
        "{metrics}"
    );
}
