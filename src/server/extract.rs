//! The axum extractors of the webhook endpoints: each verifies its platform's request
//! over the raw bytes (through `chat::slack` / `chat::mattermost`) before any field is read,
//! and refuses with the status and short reason of the [`Refusal`].

use std::sync::Arc;

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::app::App;
use crate::chat::{mattermost, slack, Refusal};
use crate::domain::{Invocation, Platform};

pub use crate::chat::slack::SlackRequest;

/// A verified Mattermost slash command.
#[derive(Debug)]
pub struct MattermostCommand(pub Box<Invocation>);

/// A verified request on Slack's interactivity endpoint.
#[derive(Debug)]
pub struct SlackClick(pub crate::chat::click::SlackInteraction);

/// A Mattermost dialog submission (`None`: cancelled or not the bot's).
#[derive(Debug)]
pub struct MattermostDialog(pub Option<Box<crate::chat::click::Submission>>);

/// A Mattermost button click carrying a token (checked by the pipeline).
#[derive(Debug)]
pub struct MattermostClick(pub Box<crate::chat::click::Click>);

fn refused(app: &App, platform: Platform, refusal: Refusal) -> Response {
    app.metrics.refused(platform, refusal);
    (
        StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::UNAUTHORIZED),
        refusal.reason(),
    )
        .into_response()
}

impl FromRequest<Arc<App>> for SlackRequest {
    type Rejection = Response;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, Self::Rejection> {
        // In Socket Mode without a signing secret, the HTTP endpoints are not served.
        let Some(config) = app
            .config
            .slack
            .as_ref()
            .filter(|c| !c.signing_secrets.is_empty())
        else {
            return Err(StatusCode::NOT_FOUND.into_response());
        };
        let now = chrono::Utc::now().timestamp();
        slack::read_verified(req, &config.signing_secrets, now)
            .await
            .map_err(|refusal| refused(app, Platform::Slack, refusal))
    }
}

impl FromRequest<Arc<App>> for MattermostCommand {
    type Rejection = Response;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, Self::Rejection> {
        let Some(config) = app.config.mattermost.as_ref() else {
            return Err(StatusCode::NOT_FOUND.into_response());
        };
        mattermost::read_verified(req, &config.command_tokens)
            .await
            .map(|inv| MattermostCommand(Box::new(inv)))
            .map_err(|refusal| refused(app, Platform::Mattermost, refusal))
    }
}

impl FromRequest<Arc<App>> for SlackClick {
    type Rejection = Response;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, Self::Rejection> {
        // In Socket Mode without a signing secret, the HTTP endpoints are not served.
        let Some(config) = app
            .config
            .slack
            .as_ref()
            .filter(|c| !c.signing_secrets.is_empty())
        else {
            return Err(StatusCode::NOT_FOUND.into_response());
        };
        let now = chrono::Utc::now().timestamp();
        crate::chat::click::read_slack(req, &config.signing_secrets, now)
            .await
            .map(SlackClick)
            .map_err(|refusal| refused(app, Platform::Slack, refusal))
    }
}

impl FromRequest<Arc<App>> for MattermostClick {
    type Rejection = Response;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, Self::Rejection> {
        if app.config.mattermost.is_none() {
            return Err(StatusCode::NOT_FOUND.into_response());
        }
        crate::chat::click::read_mattermost(req)
            .await
            .map(|click| MattermostClick(Box::new(click)))
            .map_err(|refusal| refused(app, Platform::Mattermost, refusal))
    }
}

impl FromRequest<Arc<App>> for MattermostDialog {
    type Rejection = Response;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, Self::Rejection> {
        if app.config.mattermost.is_none() {
            return Err(StatusCode::NOT_FOUND.into_response());
        }
        crate::chat::click::read_mattermost_dialog(req)
            .await
            .map(|sub| MattermostDialog(sub.map(Box::new)))
            .map_err(|refusal| refused(app, Platform::Mattermost, refusal))
    }
}
