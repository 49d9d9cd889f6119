//! Button clicks, whatever the platform: Slack's `block_actions` (signed like commands)
//! and Mattermost's action requests (unsigned: the button's own token is the proof,
//! checked by the pipeline with the bot's key).

use axum::extract::Request;
use axum::http::header;
use bytes::Bytes;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::Value;

use super::{form_field, read_form, slack, Refusal, MAX_BODY_BYTES};
use crate::domain::{Platform, Principal};
use crate::message::ButtonAction;

/// A click on one of the bot's buttons, read from a request that passed its platform's
/// checks. The token is not trusted yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Click {
    pub platform: Platform,
    pub user: Principal,
    pub user_name: Option<String>,
    pub channel: Principal,
    pub action: ButtonAction,
    /// What the button carried: the pending operation's id with the bot's MAC.
    pub token: String,
    /// Slack: where the prompt is edited and refusals are told.
    pub response_url: Option<String>,
    pub trigger_id: Option<String>,
}

/// A typed confirmation submitted from the bot's form (Slack `view_submission`,
/// Mattermost `dialog_submission`). `state` is what the bot put in the form; its token
/// is not trusted yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub platform: Platform,
    pub user: Principal,
    pub user_name: Option<String>,
    /// Mattermost names the channel; on Slack the bot keeps it in `state`.
    pub channel: Option<Principal>,
    pub state: String,
    /// What the person typed (trimmed).
    pub entered: String,
}

/// What the Slack interactivity endpoint received.
#[derive(Debug)]
pub enum SlackInteraction {
    Click(Box<Click>),
    Submission(Box<Submission>),
    /// Another kind of interaction, or another app's button: acknowledged, nothing done.
    Ignored,
}

#[derive(Deserialize)]
struct SlackPayload {
    #[serde(rename = "type")]
    kind: String,
    user: Option<SlackUser>,
    channel: Option<SlackId>,
    container: Option<SlackContainer>,
    response_url: Option<String>,
    trigger_id: Option<String>,
    #[serde(default)]
    actions: Vec<SlackAction>,
    view: Option<SlackView>,
}

#[derive(Deserialize)]
struct SlackView {
    callback_id: Option<String>,
    #[serde(default)]
    private_metadata: String,
    #[serde(default)]
    state: Value,
}

#[derive(Deserialize)]
struct SlackUser {
    id: String,
    username: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
struct SlackId {
    id: String,
}

#[derive(Deserialize)]
struct SlackContainer {
    channel_id: Option<String>,
}

#[derive(Deserialize)]
struct SlackAction {
    action_id: String,
    value: Option<String>,
}

/// Verifies a request on the interactivity endpoint (the same signature and refusals as
/// a command), then reads its `payload` from exactly the verified bytes.
pub async fn read_slack(
    req: Request,
    secrets: &[SecretString],
    now: i64,
) -> Result<SlackInteraction, Refusal> {
    let (parts, bytes) = read_form(req).await?;
    let timestamp = parts.headers.get("x-slack-request-timestamp");
    let signature = parts.headers.get("x-slack-signature");
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(Refusal::MissingHeaders);
    };
    slack::verify::verify_at(
        secrets,
        timestamp.as_bytes(),
        signature.as_bytes(),
        &bytes,
        now,
    )?;
    parse_slack(&bytes)
}

/// The click in a verified interactivity body.
pub fn parse_slack(body: &[u8]) -> Result<SlackInteraction, Refusal> {
    let payload = form_field(body, "payload").ok_or(Refusal::BadPayload)?;
    let p: SlackPayload = serde_json::from_str(&payload).map_err(|_| Refusal::BadPayload)?;
    slack_interaction(p)
}

/// The click in the `payload` object of a Socket Mode `interactive` envelope: the same
/// object as the HTTP endpoint's `payload` field.
pub fn parse_slack_value(payload: serde_json::Value) -> Result<SlackInteraction, Refusal> {
    let p: SlackPayload = serde_json::from_value(payload).map_err(|_| Refusal::BadPayload)?;
    slack_interaction(p)
}

fn slack_interaction(p: SlackPayload) -> Result<SlackInteraction, Refusal> {
    if p.kind == "view_submission" {
        return slack_submission(p);
    }
    if p.kind != "block_actions" {
        return Ok(SlackInteraction::Ignored);
    }
    let Some(action) = p.actions.first() else {
        return Err(Refusal::BadPayload);
    };
    let Some(kind) = slack::render::action_of(&action.action_id) else {
        return Ok(SlackInteraction::Ignored);
    };
    let user = p
        .user
        .filter(|u| !u.id.is_empty())
        .ok_or(Refusal::MissingFields)?;
    let channel = p
        .channel
        .map(|c| c.id)
        .or_else(|| p.container.and_then(|c| c.channel_id))
        .filter(|c| !c.is_empty())
        .ok_or(Refusal::MissingFields)?;
    Ok(SlackInteraction::Click(Box::new(Click {
        platform: Platform::Slack,
        user: Principal::new(Platform::Slack, user.id),
        user_name: user.username.or(user.name).filter(|n| !n.is_empty()),
        channel: Principal::new(Platform::Slack, channel),
        action: kind,
        token: action.value.clone().unwrap_or_default(),
        response_url: p.response_url.filter(|u| !u.is_empty()),
        trigger_id: p.trigger_id.filter(|t| !t.is_empty()),
    })))
}

/// A modal submission: only the bot's own form counts.
fn slack_submission(p: SlackPayload) -> Result<SlackInteraction, Refusal> {
    let Some(view) = p.view else {
        return Err(Refusal::BadPayload);
    };
    if view.callback_id.as_deref() != Some(slack::render::FORM_CALLBACK) {
        return Ok(SlackInteraction::Ignored);
    }
    let user = p
        .user
        .filter(|u| !u.id.is_empty())
        .ok_or(Refusal::MissingFields)?;
    let entered = view.state["values"][slack::render::FORM_BLOCK][slack::render::FORM_ACTION]
        ["value"]
        .as_str()
        .unwrap_or_default()
        .trim()
        .to_string();
    Ok(SlackInteraction::Submission(Box::new(Submission {
        platform: Platform::Slack,
        user: Principal::new(Platform::Slack, user.id),
        user_name: user.username.or(user.name).filter(|n| !n.is_empty()),
        channel: None,
        state: view.private_metadata,
        entered,
    })))
}

#[derive(Deserialize)]
struct MattermostDialog {
    callback_id: Option<String>,
    #[serde(default)]
    state: String,
    user_id: Option<String>,
    channel_id: Option<String>,
    #[serde(default)]
    submission: Value,
    #[serde(default)]
    cancelled: bool,
}

/// Reads a Mattermost dialog submission (unsigned, like actions: the `state` carries the
/// bot's token). `None`: cancelled, or not the bot's dialog — nothing to do.
pub async fn read_mattermost_dialog(req: Request) -> Result<Option<Submission>, Refusal> {
    parse_mattermost_dialog(&read_json(req).await?)
}

/// A Mattermost dialog submission from its JSON body (see [`read_mattermost_dialog`]).
pub fn parse_mattermost_dialog(body: &[u8]) -> Result<Option<Submission>, Refusal> {
    let d: MattermostDialog = serde_json::from_slice(body).map_err(|_| Refusal::BadPayload)?;
    if d.cancelled || d.callback_id.as_deref() != Some(super::mattermost::render::FORM_CALLBACK) {
        return Ok(None);
    }
    if d.state.is_empty() {
        return Err(Refusal::MissingToken);
    }
    let user = d
        .user_id
        .filter(|u| !u.is_empty())
        .ok_or(Refusal::MissingFields)?;
    let channel = d
        .channel_id
        .filter(|c| !c.is_empty())
        .ok_or(Refusal::MissingFields)?;
    Ok(Some(Submission {
        platform: Platform::Mattermost,
        user: Principal::new(Platform::Mattermost, user),
        user_name: None,
        channel: Some(Principal::new(Platform::Mattermost, channel)),
        state: d.state,
        entered: d.submission[super::mattermost::render::FORM_FIELD]
            .as_str()
            .unwrap_or_default()
            .trim()
            .to_string(),
    }))
}

#[derive(Deserialize)]
struct MattermostAction {
    user_id: Option<String>,
    user_name: Option<String>,
    channel_id: Option<String>,
    trigger_id: Option<String>,
    #[serde(default)]
    context: MattermostContext,
}

#[derive(Deserialize, Default)]
struct MattermostContext {
    action: Option<String>,
    token: Option<String>,
}

fn is_json(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

/// Reads a Mattermost action request within the size limit. Mattermost signs nothing: a
/// click without the bot's token in its context is refused here, and the token itself is
/// checked by the pipeline.
pub async fn read_mattermost(req: Request) -> Result<Click, Refusal> {
    parse_mattermost(&read_json(req).await?)
}

/// A JSON body within the size limit.
async fn read_json(req: Request) -> Result<Bytes, Refusal> {
    if !is_json(&req) {
        return Err(Refusal::NotJson);
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(Refusal::TooLarge);
    }
    axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES)
        .await
        .map_err(|_| Refusal::TooLarge)
}

pub fn parse_mattermost(body: &[u8]) -> Result<Click, Refusal> {
    let a: MattermostAction = serde_json::from_slice(body).map_err(|_| Refusal::BadPayload)?;
    let token = a
        .context
        .token
        .filter(|t| !t.is_empty())
        .ok_or(Refusal::MissingToken)?;
    let action = a
        .context
        .action
        .as_deref()
        .and_then(ButtonAction::parse)
        .ok_or(Refusal::BadPayload)?;
    let user = a
        .user_id
        .filter(|u| !u.is_empty())
        .ok_or(Refusal::MissingFields)?;
    let channel = a
        .channel_id
        .filter(|c| !c.is_empty())
        .ok_or(Refusal::MissingFields)?;
    Ok(Click {
        platform: Platform::Mattermost,
        user: Principal::new(Platform::Mattermost, user),
        user_name: a.user_name.filter(|n| !n.is_empty()),
        channel: Principal::new(Platform::Mattermost, channel),
        action,
        token,
        response_url: None,
        trigger_id: a.trigger_id.filter(|t| !t.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(payload: &str) -> Vec<u8> {
        format!(
            "payload={}",
            url::form_urlencoded::byte_serialize(payload.as_bytes()).collect::<String>()
        )
        .into_bytes()
    }

    #[test]
    fn a_block_actions_click_is_read_with_who_where_and_the_token() {
        let body = form(
            r#"{"type":"block_actions","user":{"id":"U1","username":"alice","name":"alice","team_id":"T1"},
               "container":{"type":"message","channel_id":"C1","is_ephemeral":true},
               "channel":{"id":"C1","name":"ops"},"trigger_id":"t.1",
               "response_url":"https://hooks.slack.com/actions/T1/1/x",
               "actions":[{"action_id":"usersync_confirm","block_id":"b","value":"p1.abc","type":"button","action_ts":"1"}]}"#,
        );
        let SlackInteraction::Click(click) = parse_slack(&body).unwrap() else {
            panic!("not a click");
        };
        assert_eq!(click.user.to_string(), "slack:U1");
        assert_eq!(click.user_name.as_deref(), Some("alice"));
        assert_eq!(click.channel.to_string(), "slack:C1");
        assert_eq!(click.action, ButtonAction::Confirm);
        assert_eq!(click.token, "p1.abc");
        assert_eq!(
            click.response_url.as_deref(),
            Some("https://hooks.slack.com/actions/T1/1/x")
        );
    }

    #[test]
    fn other_interactions_are_ignored_and_broken_ones_refused() {
        let ignored = [
            r#"{"type":"view_closed","user":{"id":"U1"}}"#,
            r#"{"type":"block_actions","user":{"id":"U1"},"channel":{"id":"C1"},"actions":[{"action_id":"someone_else","value":"x"}]}"#,
        ];
        for p in ignored {
            assert!(
                matches!(parse_slack(&form(p)), Ok(SlackInteraction::Ignored)),
                "{p}"
            );
        }
        let cases = [
            (b"text=hello".to_vec(), Refusal::BadPayload),
            (form("{not json"), Refusal::BadPayload),
            (
                form(
                    r#"{"type":"block_actions","user":{"id":"U1"},"channel":{"id":"C1"},"actions":[]}"#,
                ),
                Refusal::BadPayload,
            ),
            (
                form(
                    r#"{"type":"block_actions","channel":{"id":"C1"},"actions":[{"action_id":"usersync_cancel","value":"x"}]}"#,
                ),
                Refusal::MissingFields,
            ),
            (
                form(
                    r#"{"type":"block_actions","user":{"id":"U1"},"actions":[{"action_id":"usersync_cancel","value":"x"}]}"#,
                ),
                Refusal::MissingFields,
            ),
        ];
        for (body, refusal) in cases {
            assert_eq!(parse_slack(&body).err(), Some(refusal));
        }
    }

    #[test]
    fn a_mattermost_action_needs_its_token_and_a_known_action() {
        let click = parse_mattermost(
            br#"{"user_id":"u1","user_name":"bob","channel_id":"c1","post_id":"p","trigger_id":"t","type":"","context":{"action":"cancel","token":"p1.abc"}}"#,
        )
        .unwrap();
        assert_eq!(click.user.to_string(), "mattermost:u1");
        assert_eq!(click.action, ButtonAction::Cancel);
        assert_eq!(click.token, "p1.abc");
        let cases: [(&[u8], Refusal); 5] = [
            (
                br#"{"user_id":"u1","channel_id":"c1","context":{"action":"confirm"}}"#,
                Refusal::MissingToken,
            ),
            (
                br#"{"user_id":"u1","channel_id":"c1"}"#,
                Refusal::MissingToken,
            ),
            (
                br#"{"user_id":"u1","channel_id":"c1","context":{"action":"delete","token":"x"}}"#,
                Refusal::BadPayload,
            ),
            (
                br#"{"channel_id":"c1","context":{"action":"confirm","token":"x"}}"#,
                Refusal::MissingFields,
            ),
            (b"user_id=u1", Refusal::BadPayload),
        ];
        for (body, refusal) in cases {
            assert_eq!(
                parse_mattermost(body).err(),
                Some(refusal),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
