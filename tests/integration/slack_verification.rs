//! The Slack front door refuses everything it cannot verify, over real HTTP, and nothing
//! happens after a refusal: no call upstream, no audit row.

use std::time::Duration;

use crate::support::bot::*;
use crate::support::*;
use usersync_bot::chat::slack::verify::{sign, Refusal};
use usersync_bot::domain::Platform;
use usersync_bot::usersync::ApiFlavour;

async fn setup() -> (usersync_bot::simulator::SimulatorHandle, TestBot) {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(100)).await;
    let bot = BotSetup::new(&sim).start().await;
    (sim, bot)
}

#[tokio::test]
async fn a_correctly_signed_command_is_answered() {
    let (sim, bot) = setup().await;
    let reply = bot.say(VIEWER, "status okta").await;
    assert_eq!(reply["response_type"], "ephemeral");
    assert!(
        visible(&reply).contains("Okta — sync 92: DONE · SUCCESS"),
        "{}",
        visible(&reply)
    );
    assert_eq!(sim.state().calls().len(), 2, "list + last status");
}

#[tokio::test]
async fn an_old_secret_still_verifies_during_a_rotation() {
    let (_sim, bot) = setup().await;
    let body = Cmd::new(VIEWER, "whoami").body();
    let r = bot.post_signed(&body, OLD_SECRET, now()).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_wrong_signature_is_refused_with_401_and_nothing_happens() {
    let (sim, bot) = setup().await;
    let body = Cmd::new(ADMIN, "run okta").body();
    let ts = now();
    let signature = sign(SECRET, ts, body.as_bytes());
    // One changed byte of body.
    let tampered = body.replacen("okta", "okte", 1);
    let r = bot
        .http
        .post(&bot.url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts.to_string())
        .header("x-slack-signature", signature)
        .body(tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.text().await.unwrap(), "invalid signature");
    let r = bot.post_signed(&body, "some-other-secret", ts).await;
    assert_eq!(r.status(), 401);
    assert_nothing_happened(&sim, &bot).await;
    assert_eq!(
        bot.bot
            .app
            .metrics
            .refusals(Platform::Slack, Refusal::BadSignature),
        2
    );
}

#[tokio::test]
async fn stale_and_future_timestamps_are_refused() {
    let (sim, bot) = setup().await;
    let body = Cmd::new(ADMIN, "run okta").body();
    for ts in [now() - 301, now() + 301, now() - 3600] {
        let r = bot.post_signed(&body, SECRET, ts).await;
        assert_eq!(r.status(), 401, "ts {ts}");
        assert_eq!(
            r.text().await.unwrap(),
            "timestamp outside the allowed window"
        );
    }
    assert_nothing_happened(&sim, &bot).await;
    assert_eq!(
        bot.bot
            .app
            .metrics
            .refusals(Platform::Slack, Refusal::StaleTimestamp),
        3
    );
}

#[tokio::test]
async fn missing_or_malformed_headers_are_refused() {
    let (sim, bot) = setup().await;
    let body = Cmd::new(ADMIN, "run okta").body();
    let ts = now();
    let good_sig = sign(SECRET, ts, body.as_bytes());
    let cases: Vec<(Option<String>, Option<String>, &str)> = vec![
        (None, None, "missing signature headers"),
        (Some(ts.to_string()), None, "missing signature headers"),
        (None, Some(good_sig.clone()), "missing signature headers"),
        (
            Some("yesterday".into()),
            Some(good_sig.clone()),
            "malformed signature headers",
        ),
        (
            Some(ts.to_string()),
            Some(good_sig.replace("v0=", "v1=")),
            "malformed signature headers",
        ),
        (
            Some(ts.to_string()),
            Some("v0=not-hex".into()),
            "malformed signature headers",
        ),
    ];
    for (timestamp, signature, reason) in cases {
        let mut request = bot
            .http
            .post(&bot.url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone());
        if let Some(t) = &timestamp {
            request = request.header("x-slack-request-timestamp", t);
        }
        if let Some(s) = &signature {
            request = request.header("x-slack-signature", s);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 401, "{timestamp:?} {signature:?}");
        assert_eq!(r.text().await.unwrap(), reason);
    }
    assert_nothing_happened(&sim, &bot).await;
}

#[tokio::test]
async fn a_body_over_64_kib_is_refused_with_413() {
    let (sim, bot) = setup().await;
    let text = "x".repeat(70 * 1024);
    let body = Cmd::new(ADMIN, &text).body();
    let r = bot.post_signed(&body, SECRET, now()).await;
    assert_eq!(r.status(), 413);
    assert_nothing_happened(&sim, &bot).await;
    assert_eq!(
        bot.bot
            .app
            .metrics
            .refusals(Platform::Slack, Refusal::TooLarge),
        1
    );
}

#[tokio::test]
async fn another_content_type_is_refused_with_415() {
    let (sim, bot) = setup().await;
    let body = Cmd::new(ADMIN, "run okta").body();
    let ts = now();
    for content_type in ["application/json", "text/plain", "multipart/form-data"] {
        let r = bot
            .http
            .post(&bot.url)
            .header("content-type", content_type)
            .header("x-slack-request-timestamp", ts.to_string())
            .header("x-slack-signature", sign(SECRET, ts, body.as_bytes()))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 415, "{content_type}");
    }
    let r = bot
        .http
        .post(&bot.url)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415, "no content type at all");
    assert_nothing_happened(&sim, &bot).await;
}

#[tokio::test]
async fn the_certificate_check_gets_an_empty_200_and_nothing_else() {
    let (sim, bot) = setup().await;
    // An unsigned ssl_check, even one smuggling a command, does nothing.
    for body in [
        "ssl_check=1&token=abc",
        "ssl_check=1&user_id=U0ADMIN01&channel_id=C0OPS0001&text=run+okta",
    ] {
        let r = bot
            .http
            .post(&bot.url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), "");
    }
    // ssl_check=0 is not a certificate check: without signature it is refused.
    let r = bot
        .http
        .post(&bot.url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("ssl_check=0&user_id=U0ADMIN01&channel_id=C0OPS0001&text=run+okta")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_nothing_happened(&sim, &bot).await;
}

#[tokio::test]
async fn refusals_are_counted_in_metrics_without_secrets() {
    let (_sim, bot) = setup().await;
    let body = Cmd::new(ADMIN, "run okta").body();
    bot.post_signed(&body, "wrong", now()).await;
    let metrics = bot.metrics_text().await;
    assert!(
        metrics
            .contains("usersync_bot_refused_total{platform=\"slack\",reason=\"bad_signature\"} 1"),
        "{metrics}"
    );
    assert!(!metrics.contains(SECRET));
}
