//! `audit` over real HTTP: commands of several people, then what an admin reads — every
//! row newest first, each filter, a list cut with the right count, a viewer refused (and
//! that refusal audited), and a secret typed in a command kept out of the audit.

use std::time::Duration;

use serde_json::Value;
use usersync_bot::simulator::SimulatorHandle;
use usersync_bot::store::Decision;
use usersync_bot::usersync::ApiFlavour;

use crate::support::bot::*;
use crate::support::*;

struct Audited {
    _sim: SimulatorHandle,
    slack: FakeSlackHandle,
    bot: TestBot,
    /// Audit rows written so far (each `audit` asked adds one).
    rows: usize,
}

impl Audited {
    async fn start() -> Audited {
        let sim = simulator(ApiFlavour::V2, Duration::from_millis(100)).await;
        let slack = FakeSlackHandle::start().await;
        let bot = BotSetup::new(&sim).start().await;
        Audited {
            _sim: sim,
            slack,
            bot,
            rows: 0,
        }
    }

    /// `text` from `user` (named `name` by Slack), with follow-ups to the fake Slack.
    async fn say(&mut self, user: &str, name: &str, text: &str) -> Value {
        let mut cmd = Cmd::new(user, text);
        cmd.user_name = name;
        cmd.response_url = Some(self.slack.response_url("audit"));
        let reply = self.bot.command(&cmd).await;
        self.rows += 1;
        reply
    }

    /// The admin's `text` (an `audit …`) once every earlier command is in the audit: the
    /// reply as rendered for Slack.
    async fn audit(&mut self, text: &str) -> Value {
        self.bot.audit_rows(self.rows).await;
        self.say(ADMIN, "root", text).await
    }
}

/// The list lines a person reads, top to bottom.
fn lines(reply: &Value) -> Vec<String> {
    blocks_text(reply)
        .lines()
        .filter(|l| l.starts_with("• ") || l.starts_with("… and "))
        .map(str::to_string)
        .collect()
}

/// The command of each row, as shown (in code), top to bottom.
fn commands(reply: &Value) -> Vec<String> {
    lines(reply)
        .iter()
        .filter(|l| l.starts_with("• "))
        .map(|l| {
            let code = l.split(" — `").nth(1).unwrap_or_default();
            code.split('`').next().unwrap_or_default().to_string()
        })
        .collect()
}

#[tokio::test]
async fn an_admin_reads_every_command_newest_first_and_can_filter_them() {
    let mut a = Audited::start().await;
    a.say(VIEWER, "alice", "status Okta").await;
    a.say(OPERATOR, "oscar", "run okta").await;
    a.say(VIEWER, "alice", "run okta").await;
    a.say(HELPDESK, "hank", "frobnicate").await;

    let all = a.audit("audit").await;
    assert_eq!(all["response_type"], "ephemeral", "{all}");
    let text = visible(&all);
    assert!(text.contains("Audit — newest first"), "{text}");
    assert_eq!(
        commands(&all),
        [
            "/usersync frobnicate",
            "/usersync run okta",
            "/usersync run okta",
            "/usersync status Okta"
        ],
        "{text}"
    );
    let rows = lines(&all);
    assert_eq!(rows.len(), 4, "nothing more: {text}");
    // When, who, where, what, the decision and the outcome.
    let shape = |line: &str| {
        let when = line.trim_start_matches("• ").split(" — ").next().unwrap();
        chrono::NaiveDateTime::parse_from_str(when, "%Y-%m-%d %H:%M:%S").is_ok()
    };
    assert!(rows.iter().all(|l| shape(l)), "{rows:#?}");
    assert!(
        rows[0].contains("*@hank* (`slack:U0HELP001`) in `C0OPS0001`")
            && rows[0].contains("_invalid_ — invalid: There is no command \"frobnicate\"."),
        "{}",
        rows[0]
    );
    assert!(
        rows[1].contains("*@alice* (`slack:U0SOMEONE`)") && rows[1].contains("_denied_ — denied: "),
        "{}",
        rows[1]
    );
    assert!(
        rows[2].contains("*@oscar* (`slack:U0ONCALL1`)")
            && rows[2].contains("_allowed_ — sync started"),
        "{}",
        rows[2]
    );
    assert!(rows[3].contains("_allowed_ — ok"), "{}", rows[3]);
    assert!(text.contains("The newest 4 rows. Times are UTC."), "{text}");

    // A user by id, with or without the platform, or by name, in any case, with `@`.
    for user in ["U0SOMEONE", "slack:U0SOMEONE", "@ALICE", "alice"] {
        let mine = a.audit(&format!("audit --user {user}")).await;
        assert_eq!(
            commands(&mine),
            ["/usersync run okta", "/usersync status Okta"],
            "--user {user}: {}",
            visible(&mine)
        );
        assert!(lines(&mine)[0].contains("_denied_"), "{}", visible(&mine));
        assert!(
            visible(&mine).contains(&format!("with user `{user}`")),
            "the filter is echoed: {}",
            visible(&mine)
        );
    }

    // A command, by its name or an alias; a connector, in any case.
    let runs = a.audit("audit --command run").await;
    assert_eq!(
        commands(&runs),
        ["/usersync run okta", "/usersync run okta"],
        "{}",
        visible(&runs)
    );
    assert!(lines(&runs)[0].contains("@alice") && lines(&runs)[1].contains("@oscar"));
    let okta = a.audit("audit --connector OKTA").await;
    assert_eq!(
        commands(&okta),
        [
            "/usersync run okta",
            "/usersync run okta",
            "/usersync status Okta"
        ],
        "{}",
        visible(&okta)
    );
    let both = a
        .audit("audit --connector okta --command run --user oscar")
        .await;
    assert_eq!(commands(&both), ["/usersync run okta"]);
    assert!(
        visible(&both).contains("with user `oscar`, connector `okta`, command `run`"),
        "{}",
        visible(&both)
    );
    let none = a.audit("audit --command watch --user alice").await;
    let none = visible(&none);
    assert!(none.contains("No audit rows match"), "{none}");
    assert!(
        none.contains("Nothing audited matches user `alice`, command `watch`."),
        "{none}"
    );

    // Cut: the two newest (both audits), and how many more there are.
    let before = a.rows;
    let cut = a.audit("audit 2").await;
    assert_eq!(
        commands(&cut),
        [
            "/usersync audit --command watch --user alice",
            "/usersync audit --connector okta --command run --user oscar"
        ],
        "{}",
        visible(&cut)
    );
    let more = before - 2;
    assert_eq!(
        lines(&cut).last().map(String::as_str),
        Some(format!("… and {more} more").as_str()),
        "{}",
        visible(&cut)
    );
    assert!(
        visible(&cut).contains("More: `/usersync audit 100`"),
        "{}",
        visible(&cut)
    );

    // The store keeps what the filters use.
    let stored = a.bot.audit_rows(a.rows).await;
    let run = stored
        .iter()
        .find(|r| r.user_id == OPERATOR)
        .expect("the operator's run");
    assert_eq!(
        (
            run.user_name.as_deref(),
            run.command.as_deref(),
            run.connector.as_deref()
        ),
        (Some("oscar"), Some("run"), Some("okta"))
    );
    let invalid = stored
        .iter()
        .find(|r| r.decision == Decision::Invalid)
        .expect("the invalid one");
    assert_eq!(
        (invalid.command.as_deref(), invalid.connector.as_deref()),
        (None, None)
    );
}

#[tokio::test]
async fn mistakes_in_audit_are_usage_errors() {
    let mut a = Audited::start().await;
    for (text, problem) in [
        (
            "audit 0",
            "N is how many rows to show, from 1 to 100, not \"0\".",
        ),
        (
            "audit 500",
            "N is how many rows to show, from 1 to 100, not \"500\".",
        ),
        (
            "audit --command frobnicate",
            "--command takes the name of a command, like run, not \"frobnicate\".",
        ),
    ] {
        let shown = visible(&a.say(ADMIN, "root", text).await);
        assert!(shown.contains(problem), "{text}: {shown}");
        assert!(
            shown.contains(
                "Usage: `/usersync audit [N] [--user U] [--connector C] [--command NAME]`"
            ),
            "{text}: {shown}"
        );
    }
    let rows = a.bot.audit_rows(3).await;
    assert!(rows
        .iter()
        .all(|r| r.decision == Decision::Invalid && r.command.as_deref() == Some("audit")));
}

#[tokio::test]
async fn only_an_admin_reads_the_audit_and_a_refusal_is_audited() {
    let mut a = Audited::start().await;
    for user in [VIEWER, OPERATOR] {
        let denied = visible(&a.say(user, "someone", "audit").await);
        assert!(denied.contains("Not allowed: /usersync audit"), "{denied}");
        assert!(denied.contains("needs the admin role"), "{denied}");
        assert!(!denied.contains("Audit — newest first"), "{denied}");
    }
    let refused = a.audit("audit --command audit").await;
    let rows = lines(&refused);
    assert_eq!(rows.len(), 2, "{}", visible(&refused));
    assert!(
        rows[0].contains("(`slack:U0ONCALL1`)")
            && rows[0].contains("`/usersync audit` — _denied_ — denied: Role { needed: Admin"),
        "{}",
        rows[0]
    );
    assert!(rows[1].contains("(`slack:U0SOMEONE`)"), "{}", rows[1]);
    let stored = a.bot.audit_rows(3).await;
    assert_eq!(
        stored
            .iter()
            .map(|r| (r.decision, r.command.as_deref()))
            .collect::<Vec<_>>(),
        [
            (Decision::Allowed, Some("audit")),
            (Decision::Denied, Some("audit")),
            (Decision::Denied, Some("audit")),
        ]
    );
}

#[tokio::test]
async fn a_secret_typed_in_a_command_is_neither_stored_nor_shown_by_audit() {
    let mut a = Audited::start().await;
    let secrets = ["Zq9hunter2", "Zq9s3cr3t", "Zq9bindpw", "Zq9json"];
    // Mistakes, a reserved command and a connector that is no connector: the words come
    // back in usage errors and outcomes too.
    a.say(ADMIN, "root", "status okta password=Zq9hunter2")
        .await;
    a.say(ADMIN, "root", "connector 'clientSecret=Zq9s3cr3t'")
        .await;
    a.say(
        ADMIN,
        "root",
        "set okta ldap.bindPassword=\"Zq9bindpw\" enabled=true",
    )
    .await;
    a.say(ADMIN, "root", "status okta '{\"password\": \"Zq9json\"}'")
        .await;
    let reply = a.audit("audit").await;
    let all = reply.to_string();
    for s in secrets {
        assert!(!all.contains(s), "{s} is shown: {all}");
    }
    assert_eq!(
        commands(&reply),
        [
            "/usersync status okta '{\"password\":\"••••••\"}'",
            "/usersync set okta ldap.bindPassword=*** enabled=true",
            "/usersync connector clientSecret=***",
            "/usersync status okta password=***",
        ],
        "{}",
        visible(&reply)
    );
    let shown = visible(&reply);
    assert!(
        shown.contains("invalid: Unexpected \"password=***\"."),
        "the usage error quoting the word is scrubbed too: {shown}"
    );
    assert!(
        shown.contains("No connector is called \"clientSecret=***\""),
        "{shown}"
    );
    let stored = a.bot.audit_rows(a.rows).await;
    assert_eq!(stored.len(), 5);
    for row in &stored {
        let row = format!("{row:?}");
        for s in secrets {
            assert!(!row.contains(s), "{s} is stored: {row}");
        }
    }
    let connector = stored
        .iter()
        .find(|r| r.command.as_deref() == Some("connector"))
        .expect("the connector row");
    assert_eq!(connector.connector.as_deref(), Some("clientSecret=***"));
}
