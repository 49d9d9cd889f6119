//! Connector history and change announcements over real HTTP: the bot records what it sees
//! of a connector, a change is made directly on the simulator's API (outside the bot), and
//! `history` and the routes with `on = ["change"]` tell it — on Slack and on Mattermost,
//! with no secret value anywhere.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::bot::*;
use crate::support::*;
use serde_json::{json, Value};
use usersync_bot::domain::{Platform, Principal};
use usersync_bot::revisions::{record, ChangedBy};
use usersync_bot::signing::BotKey;
use usersync_bot::simulator::SimulatorHandle;
use usersync_bot::usersync::ApiFlavour;

/// Okta's API token as the simulator seeds it, and the one the outside change sets.
const SEEDED_TOKEN: &str = "00SIM-okta-api-token-7Gh2";
const NEW_TOKEN: &str = "00NEW-okta-api-token-Zq81";
const CCHANGE: &str = "C0CHANGES1";
const MM_CHANGE: &str = "mmchanges0channel";

/// A change made directly on the simulator's API, as an administrator of the product would
/// make it: a new schedule and a new API token for Okta.
async fn change_outside_the_bot(sim: &SimulatorHandle) {
    client(sim, ApiFlavour::V2)
        .merge_patch_connector(
            OKTA,
            &json!({"syncSchedule": {"intervalMinutes": 15}, "apiToken": NEW_TOKEN}),
        )
        .await
        .expect("the simulator takes the patch");
}

/// Every byte of the store's files (the database and its write-ahead log).
fn store_bytes(db: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(db.parent().unwrap()).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    bytes
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// No secret value of Okta, old or new, is in `text`.
fn assert_no_secret(text: &str) {
    for secret in [SEEDED_TOKEN, NEW_TOKEN] {
        assert!(!text.contains(secret), "{secret} shown: {text}");
    }
    assert!(
        !text.contains("fingerprint:"),
        "a fingerprint shown: {text}"
    );
}

async fn history_total(bot: &TestBot, connector: &str) -> u64 {
    bot.bot
        .app
        .store
        .revisions("jira", connector, 1)
        .await
        .unwrap()
        .total
}

#[tokio::test]
async fn history_shows_a_change_made_outside_the_bot_with_secrets_only_as_changed() {
    if crate::support::pg::sqlite_only(
        "history_shows_a_change_made_outside_the_bot_with_secrets_only_as_changed",
    ) {
        return;
    }
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let setup = BotSetup::new(&sim);
    let db: PathBuf = setup.db.clone();
    let bot = setup.start().await;

    let shown = visible(&bot.say(VIEWER, "connector okta").await);
    assert!(shown.contains("Connector Okta"), "{shown}");
    change_outside_the_bot(&sim).await;
    let shown = visible(&bot.say(VIEWER, "connector okta").await);
    assert_no_secret(&shown);
    // Seen again unchanged: no third revision.
    bot.say(VIEWER, "connector okta").await;

    let reply = bot.say(VIEWER, "history okta").await;
    let text = blocks_text(&reply);
    assert!(text.contains("History of Okta"), "{text}");
    assert!(
        text.contains("2 revision(s) of Okta on jira, newest first."),
        "{text}"
    );
    let lines: Vec<&str> = text.lines().filter(|l| l.contains('#')).collect();
    let newer = lines
        .iter()
        .position(|l| l.contains("#2"))
        .expect("revision 2 listed");
    let first = lines
        .iter()
        .position(|l| l.contains("#1"))
        .expect("revision 1 listed");
    assert!(newer < first, "newest first: {text}");
    let line = lines[newer];
    assert!(line.contains("outside the bot"), "{line}");
    assert!(line.contains("apiToken` (secret changed)"), "{line}");
    assert!(line.contains("syncSchedule.intervalMinutes"), "{line}");
    assert!(line.contains(" UTC · "), "{line}");
    assert!(lines[first].contains("first seen"), "{}", lines[first]);
    assert_no_secret(&visible(&reply));

    // N cuts the list and says how many more there are.
    let text = blocks_text(&bot.say(VIEWER, "history okta 1").await);
    assert!(text.contains("#2") && !text.contains("#1"), "{text}");
    assert!(text.contains("… and 1 more"), "{text}");

    // A bad N is a usage error; no role, no history.
    let text = visible(&bot.say(VIEWER, "history okta 0").await);
    assert!(
        text.contains("N is how many revisions to show, from 1 to 50"),
        "{text}"
    );
    let mut setup_nobody = BotSetup::new(&sim);
    setup_nobody.viewer_star = false;
    let strict = setup_nobody.start().await;
    let text = visible(&strict.say(VIEWER, "history okta").await);
    assert!(text.contains("needs the viewer role"), "{text}");

    // The secret values reached neither chat nor the store.
    let page = bot.bot.app.store.revisions("jira", OKTA, 10).await.unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(
        page.newest[0].fields,
        ["apiToken", "syncSchedule.intervalMinutes"]
    );
    assert_eq!(page.newest[0].changed_by, None);
    let bytes = store_bytes(&db);
    assert!(
        holds(&bytes, "syncSchedule"),
        "the revisions are in these files"
    );
    for secret in [SEEDED_TOKEN, NEW_TOKEN] {
        assert!(!format!("{page:?}").contains(secret));
        assert!(!holds(&bytes, secret), "{secret} is in the store's files");
    }
}

#[tokio::test]
async fn history_on_mattermost_shows_the_change_made_outside_the_bot() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let mm = FakeMattermostHandle::start().await;
    let mut setup = BotSetup::new(&sim);
    setup.mattermost = Some(mm_section(&mm.url(), None));
    let bot = setup.start().await;
    let url = mm.response_url("h");
    bot.mm_say("mmviewer1", "chan1", "connector okta", &url)
        .await;
    change_outside_the_bot(&sim).await;
    bot.mm_say("mmviewer1", "chan1", "connector okta", &url)
        .await;
    let reply = bot.mm_say("mmviewer1", "chan1", "history okta", &url).await;
    let text = reply["text"].as_str().unwrap_or_default().to_string();
    assert!(text.contains("History of Okta"), "{text}");
    assert!(text.contains("2 revision(s) of Okta on jira"), "{text}");
    assert!(text.contains("outside the bot"), "{text}");
    assert!(text.contains("apiToken` (secret changed)"), "{text}");
    assert!(text.contains("first seen"), "{text}");
    assert_no_secret(&reply.to_string());
}

/// A bot whose `[[notify]]` routes post with bot tokens to a fake Slack and a fake
/// Mattermost.
async fn announcing_bot(
    sim: &SimulatorHandle,
    slack: &FakeSlackHandle,
    mm: &FakeMattermostHandle,
    interval: &str,
    db: PathBuf,
) -> TestBot {
    let mut setup = BotSetup::new(sim);
    setup.db = db;
    setup.slack_extra = format!(
        "bot_token = \"xoxb-notify\"\napi_base_url = \"http://{}/api\"",
        slack.addr
    );
    setup.mattermost = Some(mm_section(&mm.url(), Some("mm-bot-token")));
    setup.extra = Box::leak(
        format!(
            "[watch]\ninterval = \"{interval}\"\n\n\
             [[notify]]\nconnectors = [\"okta\"]\nchannel = \"slack:{CCHANGE}\"\non = [\"change\"]\n\n\
             [[notify]]\nconnectors = [\"*\"]\nchannel = \"mattermost:{MM_CHANGE}\"\non = [\"failure\", \"change\"]\n\n\
             [[notify]]\nconnectors = [\"*\"]\nchannel = \"slack:{OPS_CHANNEL}\"\non = [\"failure\"]\n"
        )
        .into_boxed_str(),
    );
    setup.start().await
}

/// What was posted to a Slack channel with chat.postMessage.
fn slack_posts(slack: &FakeSlackHandle, channel: &str) -> Vec<String> {
    slack
        .received()
        .into_iter()
        .filter(|(p, b)| p == "/api/chat.postMessage" && b["channel"] == channel)
        .map(|(_, b)| visible(&b))
        .collect()
}

/// The blocks of what was posted to a Slack channel, and the whole post as JSON text.
fn slack_posts_blocks(slack: &FakeSlackHandle, channel: &str) -> Vec<String> {
    slack
        .received()
        .into_iter()
        .filter(|(p, b)| p == "/api/chat.postMessage" && b["channel"] == channel)
        .map(|(_, b)| format!("{}\n{b}", blocks_text(&b)))
        .collect()
}

/// What was posted to a Mattermost channel with the bot token, as JSON text.
fn mm_posts(mm: &FakeMattermostHandle, channel: &str) -> Vec<String> {
    mm.received()
        .into_iter()
        .filter(|(m, p, _, b)| m == "POST" && p == "/api/v4/posts" && b["channel_id"] == channel)
        .map(|(_, _, _, b): (String, String, Option<String>, Value)| b.to_string())
        .collect()
}

/// Every post the bot made anywhere (Slack Web API and Mattermost REST API).
fn all_posts(slack: &FakeSlackHandle, mm: &FakeMattermostHandle) -> usize {
    slack
        .received()
        .iter()
        .filter(|(p, _)| p.starts_with("/api/"))
        .count()
        + mm.received()
            .iter()
            .filter(|(_, p, _, _)| p.starts_with("/api/"))
            .count()
}

#[tokio::test]
async fn an_outside_change_found_by_the_watcher_is_announced_once_where_routes_ask() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let mm = FakeMattermostHandle::start().await;
    let bot = announcing_bot(&sim, &slack, &mm, "100ms", temp_db()).await;

    // The first looks see every connector for the first time: history, not news.
    wait_for("the watcher's first sight of Okta", || async {
        (history_total(&bot, OKTA).await == 1).then_some(())
    })
    .await;
    wait_for_more_polls(&sim, OKTA, 4).await;
    assert_eq!(
        all_posts(&slack, &mm),
        0,
        "a first sighting is not announced"
    );
    assert_eq!(
        history_total(&bot, AZURE).await,
        1,
        "every watched connector is recorded"
    );

    change_outside_the_bot(&sim).await;
    let posted = wait_for("the change announced on Slack", || async {
        let p = slack_posts_blocks(&slack, CCHANGE);
        (!p.is_empty()).then_some(p)
    })
    .await;
    let text = &posted[0];
    assert!(text.contains("Okta changed outside the bot"), "{text}");
    assert!(text.contains("on jira · revision #2"), "{text}");
    assert!(
        text.contains("syncSchedule.intervalMinutes`: `30` → `15`"),
        "{text}"
    );
    assert!(text.contains("apiToken`: secret changed"), "{text}");
    assert!(text.contains("/usersync history Okta"), "{text}");
    assert_no_secret(text);
    let mm_posted = wait_for("the change announced on Mattermost", || async {
        let p = mm_posts(&mm, MM_CHANGE);
        (!p.is_empty()).then_some(p)
    })
    .await;
    assert!(
        mm_posted[0].contains("Okta changed outside the bot"),
        "{}",
        mm_posted[0]
    );
    assert_no_secret(&mm_posted[0]);

    // More looks: nothing again, nowhere; the change is marked as announced.
    wait_for_more_polls(&sim, OKTA, 4).await;
    assert_eq!(slack_posts(&slack, CCHANGE).len(), 1, "announced once");
    assert_eq!(mm_posts(&mm, MM_CHANGE).len(), 1, "announced once");
    assert_eq!(
        all_posts(&slack, &mm),
        2,
        "the failure-only route heard nothing"
    );
    assert!(bot
        .bot
        .app
        .store
        .unannounced_revisions("jira")
        .await
        .unwrap()
        .is_empty());
    let text = visible(&bot.say(VIEWER, "history okta").await);
    assert!(
        text.contains("2 revision(s)") && text.contains("outside the bot"),
        "{text}"
    );
}

#[tokio::test]
async fn a_change_the_connector_command_finds_is_announced_at_once_and_only_once() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let mm = FakeMattermostHandle::start().await;
    // The watcher looks once at start, then not for an hour.
    let bot = announcing_bot(&sim, &slack, &mm, "1h", temp_db()).await;
    wait_for("the watcher's first look", || async {
        (history_total(&bot, OKTA).await == 1).then_some(())
    })
    .await;

    change_outside_the_bot(&sim).await;
    bot.say(VIEWER, "connector okta").await;
    wait_for("the change announced in both channels", || async {
        (slack_posts(&slack, CCHANGE).len() == 1 && mm_posts(&mm, MM_CHANGE).len() == 1)
            .then_some(())
    })
    .await;
    wait_for("the change marked as announced", || async {
        bot.bot
            .app
            .store
            .unannounced_revisions("jira")
            .await
            .unwrap()
            .is_empty()
            .then_some(())
    })
    .await;
    // Seen again, asked for again: the same revision, not announced a second time.
    bot.say(VIEWER, "connector okta").await;
    bot.say(VIEWER, "history okta").await;
    bot.bot.app.watcher.announce_changes("jira").await;
    assert_eq!(history_total(&bot, OKTA).await, 2);
    assert_eq!(slack_posts(&slack, CCHANGE).len(), 1);
    assert_eq!(mm_posts(&mm, MM_CHANGE).len(), 1);
}

#[tokio::test]
async fn a_change_recorded_but_not_announced_before_a_crash_is_announced_after_the_restart() {
    if crate::support::pg::sqlite_only(
        "a_change_recorded_but_not_announced_before_a_crash_is_announced_after_the_restart",
    ) {
        return;
    }
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let mm = FakeMattermostHandle::start().await;
    let db = temp_db();
    // What a bot left in its store: Okta first seen, then a change recorded — and the bot
    // went down before announcing it.
    {
        let store = usersync_bot::store::open(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let key = BotKey::from_hex(
            &store
                .bot_key("main", &BotKey::generate().to_hex())
                .await
                .unwrap(),
        )
        .unwrap();
        let c = client(&sim, ApiFlavour::V2);
        let seen = c.get_connector(OKTA).await.unwrap();
        let first = record(store.as_ref(), &key, "jira", &seen, None)
            .await
            .unwrap();
        assert!(first.is_some_and(|r| r.is_first()));
        change_outside_the_bot(&sim).await;
        let changed = c.get_connector(OKTA).await.unwrap();
        let added = record(store.as_ref(), &key, "jira", &changed, None)
            .await
            .unwrap()
            .expect("a change");
        assert!(!added.announced);
    }

    let bot = announcing_bot(&sim, &slack, &mm, "100ms", db).await;
    let posted = wait_for("the change announced after the restart", || async {
        let p = slack_posts_blocks(&slack, CCHANGE);
        (p.len() == 1 && mm_posts(&mm, MM_CHANGE).len() == 1).then_some(p)
    })
    .await;
    assert!(
        posted[0].contains("Okta changed outside the bot"),
        "{}",
        posted[0]
    );
    assert!(posted[0].contains("revision #2"), "{}", posted[0]);
    wait_for_more_polls(&sim, OKTA, 4).await;
    assert_eq!(slack_posts(&slack, CCHANGE).len(), 1, "announced once");
    assert_eq!(mm_posts(&mm, MM_CHANGE).len(), 1, "announced once");
    assert_eq!(
        all_posts(&slack, &mm),
        2,
        "the other connectors were first seen"
    );
    assert_eq!(
        history_total(&bot, OKTA).await,
        2,
        "the same key: the restarted bot saw nothing new"
    );
}

#[tokio::test]
async fn a_change_made_through_the_bot_names_who_made_it() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let mm = FakeMattermostHandle::start().await;
    let bot = announcing_bot(&sim, &slack, &mm, "1h", temp_db()).await;
    wait_for("the watcher's first look", || async {
        (history_total(&bot, OKTA).await == 1).then_some(())
    })
    .await;
    // What the handler of a confirmed change does once the product took it.
    let changed = client(&sim, ApiFlavour::V2)
        .merge_patch_connector(OKTA, &json!({"groupFilter": ["Everyone", "Admins"]}))
        .await
        .unwrap()
        .expect("the changed connector");
    let by = ChangedBy {
        principal: Principal::new(Platform::Slack, ADMIN),
        name: Some("alice".into()),
    };
    let app = &bot.bot.app;
    let added = record(app.store.as_ref(), &app.key, "jira", &changed, Some(by))
        .await
        .unwrap()
        .expect("a change");
    assert_eq!(
        added.changed_by.as_deref(),
        Some(&*format!("slack:{ADMIN}"))
    );
    app.watcher.announce_changes("jira").await;
    let posted = slack_posts_blocks(&slack, CCHANGE);
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert!(
        posted[0].contains("Okta changed by @alice"),
        "{}",
        posted[0]
    );
    assert!(
        posted[0].contains("`groupFilter`: `[\"Everyone\"]` → `[\"Everyone\",\"Admins\"]`"),
        "{}",
        posted[0]
    );
    assert!(!posted[0].contains("outside the bot"), "{}", posted[0]);
    let text = blocks_text(&bot.say(VIEWER, "history okta").await);
    assert!(text.contains("@alice · `groupFilter`"), "{text}");
}
