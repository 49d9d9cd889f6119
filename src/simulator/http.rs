//! The simulator's HTTP side: the User Sync API with the product's checks (call log,
//! faults, authentication, XSRF), and the admin endpoints outside the API's prefix.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use super::state::{
    ApiFailure, Faults, RecordedCall, SettingsUpdate, SimState, SyncOrigin, TriggerAnswerMode,
    UserUpdate,
};
use crate::usersync::{ApiFlavour, DIRECTORY_PREFIX, USERSYNC_PREFIX};

/// Prefix of the simulator's own admin endpoints (outside the product's API).
pub const ADMIN_PREFIX: &str = "/__simulator";
/// The most a request body may carry.
const MAX_BODY: usize = 1024 * 1024;
/// How long a "hanging" call waits: longer than any client's timeout.
const HANG: Duration = Duration::from_secs(3600);

type AppState = State<Arc<SimState>>;

/// The whole simulator: API and admin endpoints.
pub fn router(state: Arc<SimState>) -> Router {
    let usersync = Router::new()
        .route("/connector", get(list_connectors))
        .route("/connector/", get(list_connectors))
        .route("/connector/{id}", get(get_connector).patch(patch_connector))
        .route("/connector/{id}/syncstatus", get(last_sync_status))
        .route("/connector/{id}/sync", post(trigger_sync))
        .route("/connector/{id}/syncsingle", post(sync_single_v2))
        .route("/connector/{id}/syncsingle/{user}", post(sync_single_v19))
        .route("/syncstatus/{id}", get(sync_status))
        .route("/syncstatus/{id}/results", get(sync_results));
    let api = Router::new()
        .nest(USERSYNC_PREFIX, usersync)
        .route(
            &format!("{DIRECTORY_PREFIX}/{{id}}"),
            delete(delete_directory),
        )
        .fallback(api_not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            product_checks,
        ));
    let admin = Router::new()
        .route("/calls", get(admin_calls).delete(admin_clear_calls))
        .route(
            "/faults",
            get(admin_faults)
                .put(admin_set_faults)
                .delete(admin_clear_faults),
        )
        .route("/settings", get(admin_settings).put(admin_update_settings))
        .route("/connectors/{id}/sync", post(admin_start_sync))
        .route("/syncs/{id}", axum::routing::patch(admin_override_sync))
        .route(
            "/connectors/{id}/failure",
            axum::routing::put(admin_set_failure).delete(admin_clear_failure),
        )
        .route(
            "/connectors/{id}/users/{user}",
            axum::routing::put(admin_put_user).delete(admin_remove_user),
        );
    Router::new()
        .nest(ADMIN_PREFIX, admin)
        .merge(api)
        .with_state(state)
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (
            status,
            Json(json!({ "message": self.message, "status-code": self.status })),
        )
            .into_response()
    }
}

fn failure(status: u16, message: impl Into<String>) -> Response {
    ApiFailure {
        status,
        message: message.into(),
    }
    .into_response()
}

/// What an Atlassian product does before a handler sees the call: log it (simulator
/// only), suffer the injected faults, check credentials, then the XSRF check.
async fn product_checks(State(state): AppState, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return failure(413, "Request body too large");
    };
    let headers = &parts.headers;
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let method = parts.method.as_str().to_string();
    let path = parts.uri.path().to_string();
    let index = state.record_call(RecordedCall {
        method: method.clone(),
        path: path.clone(),
        query: parts.uri.query().map(str::to_string),
        content_type: text("content-type"),
        atlassian_token: text("x-atlassian-token"),
        auth: auth_summary(headers),
        body: String::from_utf8_lossy(&bytes).into_owned(),
        status: None,
    });

    let plan = state.plan_faults(&method, &path);
    if !plan.latency.is_zero() {
        tokio::time::sleep(plan.latency).await;
    }
    if plan.hang {
        tokio::time::sleep(HANG).await;
    }
    let response = if plan.unauthorized || !authenticated(&state, headers) {
        unauthorized()
    } else if let Some(status) = plan.error_status {
        failure(status, "Simulated failure of the product")
    } else if is_mutating(&parts.method) && !passes_xsrf_check(headers) {
        failure(403, "XSRF check failed")
    } else {
        let mut response = next
            .run(Request::from_parts(parts, Body::from(bytes)))
            .await;
        if plan.malformed_json {
            response = (
                response.status(),
                [(header::CONTENT_TYPE, "application/json")],
                "{\"status\": \"DONE\", \"id\": ",
            )
                .into_response();
        }
        if plan.oversize_bytes > 0 {
            response = oversize(response, plan.oversize_bytes, plan.oversize_declared).await;
        }
        if plan.hang_after {
            state.record_status(index, response.status().as_u16());
            tokio::time::sleep(HANG).await;
        }
        response
    };
    state.record_status(index, response.status().as_u16());
    response
}

/// `response` with `padding` bytes of whitespace before its JSON, streamed in chunks and
/// without a length, as a misbehaving server or proxy might answer.
async fn oversize(response: Response, padding: u64, declared: bool) -> Response {
    const CHUNK: usize = 64 * 1024;
    let (mut parts, body) = response.into_parts();
    let Ok(json) = axum::body::to_bytes(body, MAX_BODY).await else {
        return failure(500, "The simulator could not read its own answer");
    };
    let spaces = Bytes::from(vec![b' '; CHUNK]);
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut left = padding;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        chunks.push(spaces.slice(..n));
        left -= n as u64;
    }
    chunks.push(json);
    if declared {
        // One body of known length: hyper sends its Content-Length.
        let whole: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::from(whole));
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    let stream = futures_util::stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>));
    Response::from_parts(parts, Body::from_stream(stream))
}

fn unauthorized() -> Response {
    let mut response = failure(401, "Client must be authenticated to access this resource.");
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Basic realm=\"protected-area\""),
    );
    response
}

fn is_mutating(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// An Atlassian product lets a mutating request through when it says `no-check` (the
/// vendor's examples write `nocheck`, which products accept too) or when its content
/// type is JSON, which a browser form cannot send.
fn passes_xsrf_check(headers: &HeaderMap) -> bool {
    let token_ok = headers
        .get("x-atlassian-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("no-check") || v.eq_ignore_ascii_case("nocheck"));
    token_ok || content_type(headers).is_some_and(|ct| is_json_type(&ct))
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    let raw = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(
        raw.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase(),
    )
}

fn is_json_type(mime: &str) -> bool {
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(|t| t.trim().to_string())
}

fn authenticated(state: &SimState, headers: &HeaderMap) -> bool {
    if let Some((user, password)) = basic_credentials(headers) {
        return user == state.auth.username && password == state.auth.password;
    }
    bearer_token(headers).is_some_and(|t| t == state.auth.token)
}

/// How the call authenticated, for the call log; never the secret itself.
fn auth_summary(headers: &HeaderMap) -> Option<String> {
    if let Some((user, _)) = basic_credentials(headers) {
        return Some(format!("Basic {user}"));
    }
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    Some(
        value
            .split_whitespace()
            .next()
            .unwrap_or("unknown")
            .to_string(),
    )
}

// --- API handlers ------------------------------------------------------------------------

async fn api_not_found() -> Response {
    failure(404, "Null resource")
}

async fn list_connectors(State(state): AppState) -> Response {
    Json(state.list_connectors()).into_response()
}

async fn get_connector(State(state): AppState, Path(id): Path<String>) -> Response {
    respond(state.connector(&id))
}

async fn patch_connector(
    State(state): AppState,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let kind = content_type(&headers).unwrap_or_default();
    let patch: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_)
            if matches!(
                kind.as_str(),
                "application/json-patch+json" | "application/merge-patch+json"
            ) =>
        {
            return failure(400, "The patch is not valid JSON");
        }
        Err(_) => Value::Null,
    };
    let result = match kind.as_str() {
        "application/merge-patch+json" => state.patch_connector(&id, |doc| {
            json_patch::merge(doc, &patch);
            Ok(())
        }),
        "application/json-patch+json" => {
            let ops: json_patch::Patch = match serde_json::from_value(patch) {
                Ok(p) => p,
                Err(e) => return failure(400, format!("The JSON Patch is malformed: {e}")),
            };
            state.patch_connector(&id, |doc| {
                json_patch::patch(doc, &ops).map_err(|e| e.to_string())
            })
        }
        other => {
            return failure(
                415,
                format!(
                    "Unsupported content type {other:?}: use application/json-patch+json or \
                     application/merge-patch+json"
                ),
            )
        }
    };
    respond(result)
}

#[derive(Deserialize)]
struct SyncQuery {
    local: Option<String>,
}

async fn trigger_sync(
    State(state): AppState,
    Path(id): Path<String>,
    Query(query): Query<SyncQuery>,
) -> Response {
    let local = query.local.is_some_and(|v| v.eq_ignore_ascii_case("true"));
    match state.start_sync(&id, local, SyncOrigin::Api) {
        Ok(record) => match state.settings().trigger_answer {
            TriggerAnswerMode::Empty => StatusCode::NO_CONTENT.into_response(),
            TriggerAnswerMode::Status => Json(record).into_response(),
            TriggerAnswerMode::Text => (
                StatusCode::OK,
                format!(
                    "Sync scheduled: {}",
                    record["messages"][0].as_str().unwrap_or_default()
                ),
            )
                .into_response(),
        },
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SingleUserBody {
    identifier: String,
    #[serde(default)]
    override_primary_attribute_with_username: bool,
}

async fn sync_single_v2(State(state): AppState, Path(id): Path<String>, body: Bytes) -> Response {
    if state.api != ApiFlavour::V2 {
        return failure(404, "Null resource");
    }
    let body: SingleUserBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return failure(400, format!("Expected {{\"identifier\": …}}: {e}")),
    };
    respond(state.sync_single_user(
        &id,
        &body.identifier,
        body.override_primary_attribute_with_username,
    ))
}

async fn sync_single_v19(
    State(state): AppState,
    Path((id, user)): Path<(String, String)>,
) -> Response {
    if state.api != ApiFlavour::V1_9 {
        return failure(404, "Null resource");
    }
    respond(state.sync_single_user(&id, &user, false))
}

async fn last_sync_status(State(state): AppState, Path(id): Path<String>) -> Response {
    respond(state.last_sync_status(&id))
}

async fn sync_status(State(state): AppState, Path(id): Path<String>) -> Response {
    respond(state.sync_status(&id))
}

#[derive(Deserialize)]
struct ResultsQuery {
    count: Option<String>,
}

async fn sync_results(
    State(state): AppState,
    Path(id): Path<String>,
    Query(query): Query<ResultsQuery>,
) -> Response {
    respond(state.sync_results(&id, query.count.as_deref()))
}

async fn delete_directory(State(state): AppState, Path(id): Path<String>) -> Response {
    match state.delete_directory(&id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

fn respond(result: Result<Value, ApiFailure>) -> Response {
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

// --- admin handlers ----------------------------------------------------------------------

async fn admin_calls(State(state): AppState) -> Json<Vec<RecordedCall>> {
    Json(state.calls())
}

async fn admin_clear_calls(State(state): AppState) -> StatusCode {
    state.clear_calls();
    StatusCode::NO_CONTENT
}

async fn admin_faults(State(state): AppState) -> Json<Faults> {
    Json(state.faults())
}

async fn admin_set_faults(State(state): AppState, body: Bytes) -> Response {
    match serde_json::from_slice::<Faults>(&body) {
        Ok(faults) => {
            state.set_faults(faults.clone());
            Json(faults).into_response()
        }
        Err(e) => failure(400, format!("Bad faults: {e}")),
    }
}

async fn admin_clear_faults(State(state): AppState) -> StatusCode {
    state.set_faults(Faults::default());
    StatusCode::NO_CONTENT
}

async fn admin_settings(State(state): AppState) -> Response {
    Json(state.settings()).into_response()
}

async fn admin_update_settings(State(state): AppState, body: Bytes) -> Response {
    match serde_json::from_slice::<SettingsUpdate>(&body) {
        Ok(update) => Json(state.update_settings(update)).into_response(),
        Err(e) => failure(400, format!("Bad settings: {e}")),
    }
}

/// Starts a sync as the product's schedule would (not through the API).
async fn admin_start_sync(State(state): AppState, Path(id): Path<String>) -> Response {
    respond(state.start_sync(&id, false, SyncOrigin::Schedule))
}

#[derive(Deserialize)]
struct FailureBody {
    message: String,
}

async fn admin_set_failure(
    State(state): AppState,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    match serde_json::from_slice::<FailureBody>(&body) {
        Ok(b) => match state.set_connector_failure(&id, Some(b.message)) {
            Ok(()) => StatusCode::NO_CONTENT.into_response(),
            Err(e) => e.into_response(),
        },
        Err(e) => failure(400, format!("Expected {{\"message\": …}}: {e}")),
    }
}

async fn admin_clear_failure(State(state): AppState, Path(id): Path<String>) -> Response {
    match state.set_connector_failure(&id, None) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

/// Merges a JSON object into every later rendering of a sync's record.
async fn admin_override_sync(State(state): AppState, Path(id): Path<u64>, body: Bytes) -> Response {
    match serde_json::from_slice::<Value>(&body) {
        Ok(overrides) => match state.override_sync(id, overrides) {
            Ok(()) => StatusCode::NO_CONTENT.into_response(),
            Err(e) => e.into_response(),
        },
        Err(e) => failure(400, format!("Expected a JSON object: {e}")),
    }
}

/// Adds (or replaces) a user of a connector's identity provider.
async fn admin_put_user(
    State(state): AppState,
    Path((id, user)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let update = if body.is_empty() {
        Ok(UserUpdate::default())
    } else {
        serde_json::from_slice::<UserUpdate>(&body)
    };
    match update {
        Ok(u) => match state.put_user(&id, &user, u) {
            Ok(()) => StatusCode::NO_CONTENT.into_response(),
            Err(e) => e.into_response(),
        },
        Err(e) => failure(
            400,
            format!("Expected {{\"display_name\", \"email\", \"fails_with\"}}: {e}"),
        ),
    }
}

/// Removes a user from a connector's identity provider: the next sync deletes them.
async fn admin_remove_user(
    State(state): AppState,
    Path((id, user)): Path<(String, String)>,
) -> Response {
    match state.remove_user(&id, &user) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}
