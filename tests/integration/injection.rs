//! Mention and link injection end to end, on both platforms, through every field a person
//! can influence: the command's arguments, and what the product says back — a connector's
//! name, a sync's messages and failure, user names and display names in results and in a
//! `user` answer. The product is the simulator with hostile data; every reply and every
//! message posted to the fake Slack and Mattermost servers is searched for a live
//! mention or link. (The renderers themselves are checked for any input in
//! `properties.rs`; this proves every field goes through them.)

use std::time::Duration;

use serde_json::Value;
use usersync_bot::simulator::UserUpdate;
use usersync_bot::usersync::ApiFlavour;

use crate::support::bot::*;
use crate::support::*;

/// Everything that would notify or link if it reached a chat unescaped.
const HOSTILE: &str = "<!channel> <!here> @channel @here @all <@U0ADMIN01> \
                       [x](https://evil.example/a) <https://evil.example/b|y>";

/// Live on Slack: its own angle-bracket syntax (`@channel` is plain text there).
fn slack_live(raw: &str) -> Option<&'static str> {
    [
        "<!channel>",
        "<!here>",
        "<@U0ADMIN01>",
        "<https://evil",
        "<!subteam",
    ]
    .into_iter()
    .find(|f| raw.contains(f))
}

/// Live on Mattermost: at-mentions, Markdown links and bare URLs (autolinked).
fn mattermost_live(raw: &str) -> Option<&'static str> {
    // An escaped bracket (`\]`) cannot close a link; drop those before looking.
    let raw = raw.replace("\\]", "");
    ["@channel", "@here", "@all", "](https", "https://evil"]
        .into_iter()
        .find(|f| raw.contains(f))
}

fn strings(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
        Value::Object(o) => o.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// Every string in a JSON body, one a line (what a platform would render).
fn text_of(v: &Value) -> String {
    let mut out = String::new();
    strings(v, &mut out);
    out
}

#[tokio::test]
async fn nothing_a_person_or_the_product_says_becomes_a_live_mention_or_link_on_either_platform() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(100)).await;
    let state = sim.state();
    state
        .patch_connector(OKTA, |doc| {
            doc["name"] = Value::String(format!("Okta {HOSTILE}"));
            Ok(())
        })
        .unwrap();
    state
        .put_user(
            OKTA,
            "evil.user",
            UserUpdate {
                display_name: Some(format!("Eve {HOSTILE}")),
                fails_with: Some(format!("refused: {HOSTILE}")),
                ..UserUpdate::default()
            },
        )
        .unwrap();
    let slack = FakeSlackHandle::start().await;
    let mm = FakeMattermostHandle::start().await;
    let mut setup = BotSetup::new(&sim);
    setup.mattermost = Some(mm_section(&mm.url(), None));
    setup.roles_extra = format!(", \"mattermost:{MM_OPERATOR}\"");
    setup.extra = "[jobs]\npoll_interval = \"50ms\"\nmax_wait = \"1m\"\n";
    let bot = setup.start().await;

    // A sync that fails with the product's hostile words, whose results list the user.
    state
        .set_connector_failure(OKTA, Some(format!("LDAP said {HOSTILE}")))
        .unwrap();
    let started = visible(
        &bot.command(&run_cmd(&slack, &format!("run {OKTA}"), "run"))
            .await,
    );
    assert!(started.contains("started"), "{started}");
    let job = bot.wait_job_over().await;
    let sync = job.sync_id.expect("the job found its sync");
    state
        .override_sync(
            sync,
            serde_json::json!({"messages": [format!("note {HOSTILE}")]}),
        )
        .unwrap();

    let commands = [
        format!("status {OKTA}"),
        "connectors".to_string(),
        format!("connector {OKTA}"),
        format!("show {sync}"),
        format!("results {sync}"),
        format!("history {OKTA}"),
        format!("user {OKTA} evil.user"),
        format!("status {HOSTILE}"),
        format!("user {OKTA} {HOSTILE}"),
    ];
    let mut seen_slack = String::new();
    let mut seen_mm = String::new();
    for (i, text) in commands.iter().enumerate() {
        let mut cmd = Cmd::new(OPERATOR, text);
        cmd.response_url = Some(slack.response_url(&format!("c{i}")));
        let reply = bot.command(&cmd).await;
        seen_slack.push_str(&text_of(&reply));
        let reply = bot
            .mm_say(
                MM_OPERATOR,
                MM_OPS_CHANNEL,
                text,
                &mm.response_url(&format!("c{i}")),
            )
            .await;
        seen_mm.push_str(&text_of(&reply));
    }
    // What came later, through response_url (deferred answers, the job's outcome).
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (_, body) in slack.received() {
        seen_slack.push_str(&text_of(&body));
    }
    for (_, _, _, body) in mm.received() {
        seen_mm.push_str(&text_of(&body));
    }
    // The hostile words did reach the replies (escaped): the test saw the fields.
    for seen in [&seen_slack, &seen_mm] {
        assert!(seen.contains("LDAP said"), "the product's failure is shown");
        assert!(seen.contains("note "), "the sync's messages are shown");
        assert!(seen.contains("Eve "), "the user's display name is shown");
        assert!(
            seen.contains("evil.example"),
            "the hostile text is there, defused"
        );
    }
    if let Some(live) = slack_live(&seen_slack) {
        let at = seen_slack.find(live).unwrap_or(0);
        panic!(
            "live {live:?} on Slack: …{}…",
            &seen_slack[at.saturating_sub(80)..(at + 80).min(seen_slack.len())]
        );
    }
    if let Some(live) = mattermost_live(&seen_mm) {
        let at = seen_mm.find(live).unwrap_or(0);
        panic!(
            "live {live:?} on Mattermost: …{}…",
            &seen_mm[at.saturating_sub(80)..(at + 80).min(seen_mm.len())]
        );
    }
    bot.bot.stop().await;
}
