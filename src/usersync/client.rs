//! The typed client of one product instance's User Sync REST API.

use std::time::Duration;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::header::{HeaderValue, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use super::error::UserSyncError;
use super::metrics::{status_label, Endpoint, UpstreamMetrics};
use super::model::{Connector, ResultCount, SyncStatus, SyncUserResult, TriggerAnswer};

/// Path prefix of every User Sync call.
pub const USERSYNC_PREFIX: &str = "/rest/samlsso-admin/1.0/usersync";
/// Path prefix of directory deletion, the one call outside [`USERSYNC_PREFIX`].
pub const DIRECTORY_PREFIX: &str = "/rest/samlsso-admin/1.0/directory";
/// Content type of a JSON Patch (RFC 6902).
pub const JSON_PATCH_CONTENT_TYPE: &str = "application/json-patch+json";
/// Content type of a JSON Merge Patch (RFC 7386).
pub const MERGE_PATCH_CONTENT_TYPE: &str = "application/merge-patch+json";
/// Content type the vendor's 2.x examples send with a JSON body.
pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";
/// Header and value that pass the product's XSRF check on mutating requests.
pub const XSRF_HEADER: &str = "X-Atlassian-Token";
pub const XSRF_VALUE: &str = "no-check";

/// Default time one request may take, end to end.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time to open a connection, within the request timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest answer read from a product. The API's biggest answers (a connector list,
/// a page of sync results) are well under a megabyte; a body past this is not the
/// product's, and is not buffered whole.
pub const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;
/// The most of a product's error message shown to a person.
const MAX_ERROR_MESSAGE_CHARS: usize = 300;

/// Characters left as they are in a path segment: RFC 3986 unreserved ones. Everything
/// else (`/`, `?`, `#`, `%`, spaces, non-ASCII) is percent-encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Which flavour of the API an instance speaks: the two differ in how a sync and a
/// single-user update are requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum ApiFlavour {
    /// User Sync 2.x (SAML SSO 5.x and later): JSON bodies.
    #[default]
    #[serde(rename = "2")]
    V2,
    /// User Sync 1.9: no bodies; the single-user update names the user in the path.
    #[serde(rename = "1.9")]
    V1_9,
}

impl ApiFlavour {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiFlavour::V2 => "2",
            ApiFlavour::V1_9 => "1.9",
        }
    }
}

impl std::str::FromStr for ApiFlavour {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "2" | "2.x" => Ok(ApiFlavour::V2),
            "1.9" => Ok(ApiFlavour::V1_9),
            other => Err(format!(
                "unknown API flavour {other:?} (expected \"2\" or \"1.9\")"
            )),
        }
    }
}

/// How the bot proves itself to the product. The secrets never show in `Debug`.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// HTTP Basic with an administrator account.
    Basic {
        username: String,
        password: SecretString,
    },
    /// A personal access token, sent as `Authorization: Bearer …`.
    Bearer { token: SecretString },
}

/// Retrying of idempotent GETs after a timeout, a refused connection or 502/503/504.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    /// Delay before the first retry; doubled for each further one, with jitter.
    pub base_delay: Duration,
    /// The longest delay between two attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `retry` (0-based): exponential, capped, with the
    /// upper half jittered so that many clients do not retry in step.
    pub fn delay(&self, retry: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry.min(16)))
            .min(self.max_delay);
        let half = exp / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

/// Everything needed to talk to one product instance.
#[derive(Debug, Clone)]
pub struct InstanceConfig {
    /// The instance's name in the bot's configuration; every error names it.
    pub name: String,
    /// The product's base URL, context path included (`https://example.com/jira`).
    pub base_url: Url,
    pub credentials: Credentials,
    pub api: ApiFlavour,
    /// Time one request may take, end to end.
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

impl InstanceConfig {
    /// A configuration with the default timeout and retry policy.
    pub fn new(name: impl Into<String>, base_url: Url, credentials: Credentials) -> Self {
        InstanceConfig {
            name: name.into(),
            base_url,
            credentials,
            api: ApiFlavour::V2,
            timeout: DEFAULT_TIMEOUT,
            retry: RetryPolicy::default(),
        }
    }
}

/// The client of one product instance. Cheap to clone.
#[derive(Debug, Clone)]
pub struct UserSyncClient {
    config: std::sync::Arc<InstanceConfig>,
    http: reqwest::Client,
    /// Where each call is counted and timed, when the app measures them.
    metrics: Option<UpstreamMetrics>,
}

/// What a request sends as its body.
enum Body<'a> {
    None,
    Json(&'a Value, &'static str),
}

impl UserSyncClient {
    /// Builds the client. Fails only when the HTTP stack cannot be set up or the base URL
    /// cannot carry paths.
    pub fn new(config: InstanceConfig) -> Result<Self, UserSyncError> {
        if config.base_url.cannot_be_a_base()
            || !matches!(config.base_url.scheme(), "http" | "https")
        {
            return Err(UserSyncError::InvalidArgument {
                instance: config.name.clone(),
                message: format!("base_url {} is not an http(s) URL", config.base_url),
            });
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(config.timeout))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("usersync-bot/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| UserSyncError::Transport {
                instance: config.name.clone(),
                detail: e.to_string(),
            })?;
        Ok(UserSyncClient {
            config: std::sync::Arc::new(config),
            http,
            metrics: None,
        })
    }

    /// The same client, counting and timing every call (each attempt of a retried GET
    /// too) in `metrics`.
    pub fn measured(mut self, metrics: UpstreamMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The instance's name in the bot's configuration.
    pub fn instance(&self) -> &str {
        &self.config.name
    }

    pub fn api(&self) -> ApiFlavour {
        self.config.api
    }

    pub fn base_url(&self) -> &Url {
        &self.config.base_url
    }

    /// All connectors with their settings (`GET /connector/`).
    pub async fn list_connectors(&self) -> Result<Vec<Connector>, UserSyncError> {
        let url = self.usersync_url(&["connector", ""])?;
        self.get_json(url, Endpoint::Connectors, "the connector list")
            .await
    }

    /// One connector (`GET /connector/{id}`).
    pub async fn get_connector(&self, connector_id: &str) -> Result<Connector, UserSyncError> {
        let url = self.usersync_url(&["connector", self.segment(connector_id)?])?;
        self.get_json(
            url,
            Endpoint::Connector,
            &format!("connector {connector_id:?}"),
        )
        .await
    }

    /// Changes a connector with a JSON Merge Patch (RFC 7386). Returns the connector as
    /// the product answered it, when it answered one.
    pub async fn merge_patch_connector(
        &self,
        connector_id: &str,
        patch: &Value,
    ) -> Result<Option<Connector>, UserSyncError> {
        self.patch_connector(connector_id, patch, MERGE_PATCH_CONTENT_TYPE)
            .await
    }

    /// Changes a connector with a JSON Patch (RFC 6902).
    pub async fn json_patch_connector(
        &self,
        connector_id: &str,
        patch: &json_patch::Patch,
    ) -> Result<Option<Connector>, UserSyncError> {
        let body = serde_json::to_value(patch).map_err(|e| self.invalid(e.to_string()))?;
        self.patch_connector(connector_id, &body, JSON_PATCH_CONTENT_TYPE)
            .await
    }

    async fn patch_connector(
        &self,
        connector_id: &str,
        body: &Value,
        content_type: &'static str,
    ) -> Result<Option<Connector>, UserSyncError> {
        let url = self.usersync_url(&["connector", self.segment(connector_id)?])?;
        let what = format!("connector {connector_id:?}");
        let (_, bytes) = self
            .send_once(
                Method::PATCH,
                url,
                Body::Json(body, content_type),
                Endpoint::Patch,
                &what,
            )
            .await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        self.decode(&bytes, "a connector").map(Some)
    }

    /// Starts a sync of a connector (`POST /connector/{id}/sync`, with `local=true` to run
    /// it on the receiving node only). Never retried: a retry could start a second sync.
    pub async fn trigger_sync(
        &self,
        connector_id: &str,
        local: bool,
    ) -> Result<TriggerAnswer, UserSyncError> {
        let mut url = self.usersync_url(&["connector", self.segment(connector_id)?, "sync"])?;
        if local {
            url.query_pairs_mut().append_pair("local", "true");
        }
        let empty = Value::Object(Default::default());
        let body = match self.config.api {
            // The vendor's 2.x example sends the JSON content type; an empty object is
            // the body that content type can carry.
            ApiFlavour::V2 => Body::Json(&empty, JSON_CONTENT_TYPE),
            ApiFlavour::V1_9 => Body::None,
        };
        let what = format!("connector {connector_id:?}");
        let (status, bytes) = self
            .send_once(Method::POST, url, body, Endpoint::Sync, &what)
            .await?;
        Ok(trigger_answer(status, &bytes))
    }

    /// Updates one user from the identity provider. With 2.x the identifier travels in
    /// the JSON body (and `by_username` asks for the username as primary attribute); with
    /// 1.9 it is a path segment, and `by_username` is not available.
    pub async fn sync_single_user(
        &self,
        connector_id: &str,
        identifier: &str,
        by_username: bool,
    ) -> Result<TriggerAnswer, UserSyncError> {
        if identifier.trim().is_empty() {
            return Err(self.invalid("the user identifier is empty".into()));
        }
        let what = format!("connector {connector_id:?} or user {identifier:?}");
        let connector = self.segment(connector_id)?;
        let (status, bytes) = match self.config.api {
            ApiFlavour::V2 => {
                let url = self.usersync_url(&["connector", connector, "syncsingle"])?;
                let mut body = serde_json::json!({ "identifier": identifier });
                if by_username {
                    body["overridePrimaryAttributeWithUsername"] = Value::Bool(true);
                }
                self.send_once(
                    Method::POST,
                    url,
                    Body::Json(&body, JSON_CONTENT_TYPE),
                    Endpoint::User,
                    &what,
                )
                .await?
            }
            ApiFlavour::V1_9 => {
                if by_username {
                    return Err(self.invalid(
                        "updating by username as primary attribute needs User Sync 2.x; \
                         this instance speaks 1.9"
                            .into(),
                    ));
                }
                let user = self.segment(identifier)?;
                let url = self.usersync_url(&["connector", connector, "syncsingle", user])?;
                self.send_once(Method::POST, url, Body::None, Endpoint::User, &what)
                    .await?
            }
        };
        Ok(trigger_answer(status, &bytes))
    }

    /// The last sync of a connector (`GET /connector/{id}/syncstatus`).
    pub async fn last_sync_status(&self, connector_id: &str) -> Result<SyncStatus, UserSyncError> {
        let url = self.usersync_url(&["connector", self.segment(connector_id)?, "syncstatus"])?;
        self.get_json(
            url,
            Endpoint::Syncstatus,
            &format!("a sync of connector {connector_id:?}"),
        )
        .await
    }

    /// One sync by id (`GET /syncstatus/{id}`).
    pub async fn sync_status(&self, sync_id: u64) -> Result<SyncStatus, UserSyncError> {
        let url = self.usersync_url(&["syncstatus", &sync_id.to_string()])?;
        self.get_json(url, Endpoint::SyncById, &format!("sync {sync_id}"))
            .await
    }

    /// Per-user results of a sync (`GET /syncstatus/{id}/results`).
    pub async fn sync_results(
        &self,
        sync_id: u64,
        count: ResultCount,
    ) -> Result<Vec<SyncUserResult>, UserSyncError> {
        let mut url = self.usersync_url(&["syncstatus", &sync_id.to_string(), "results"])?;
        match count {
            ResultCount::Default => {}
            ResultCount::Count(n) => {
                url.query_pairs_mut().append_pair("count", &n.to_string());
            }
            ResultCount::All => {
                url.query_pairs_mut().append_pair("count", "-1");
            }
        }
        let value: Value = self
            .get_json(
                url,
                Endpoint::Results,
                &format!("results of sync {sync_id}"),
            )
            .await?;
        results_from(value).ok_or_else(|| UserSyncError::BadAnswer {
            instance: self.config.name.clone(),
            expected: "a list of user results",
            detail: "neither an array nor an object holding one".into(),
        })
    }

    /// Deletes a user directory **and every user in it** (`DELETE /directory/{id}`).
    /// Never retried.
    pub async fn delete_directory(&self, directory_id: &str) -> Result<(), UserSyncError> {
        let segment = self.segment(directory_id)?;
        let url = self.url_under(DIRECTORY_PREFIX, &[segment])?;
        self.send_once(
            Method::DELETE,
            url,
            Body::None,
            Endpoint::Directory,
            &format!("directory {directory_id:?}"),
        )
        .await
        .map(|_| ())
    }

    // --- plumbing -------------------------------------------------------------------

    fn invalid(&self, message: String) -> UserSyncError {
        UserSyncError::InvalidArgument {
            instance: self.config.name.clone(),
            message,
        }
    }

    /// Checks a value that becomes one path segment. `.` and `..` are refused: URL
    /// parsers treat them (and their percent-encoded forms) as moves up the path, so no
    /// encoding makes them safe.
    fn segment<'a>(&self, value: &'a str) -> Result<&'a str, UserSyncError> {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err(self.invalid("an id or name in the request is empty".into()));
        }
        if value == "." || value == ".." {
            return Err(self.invalid(format!("{value:?} is not a valid id or name")));
        }
        Ok(value)
    }

    fn usersync_url(&self, segments: &[&str]) -> Result<Url, UserSyncError> {
        self.url_under(USERSYNC_PREFIX, segments)
    }

    /// Builds `base_url + prefix + /segment…`, each segment percent-encoded, and checks
    /// that the result still lies under the prefix.
    fn url_under(&self, prefix: &str, segments: &[&str]) -> Result<Url, UserSyncError> {
        let base = &self.config.base_url;
        let mut path = base.path().trim_end_matches('/').to_string();
        path.push_str(prefix);
        let expected_prefix = path.clone();
        for segment in segments {
            path.push('/');
            path.extend(utf8_percent_encode(segment, SEGMENT));
        }
        let mut url = base.clone();
        url.set_path(&path);
        url.set_query(None);
        url.set_fragment(None);
        if !url.path().starts_with(&expected_prefix) {
            return Err(self.invalid("an id or name would change the URL called".into()));
        }
        Ok(url)
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        url: Url,
        endpoint: Endpoint,
        what: &str,
    ) -> Result<T, UserSyncError> {
        let mut retry = 0;
        loop {
            match self
                .send_once(Method::GET, url.clone(), Body::None, endpoint, what)
                .await
            {
                Ok((_, bytes)) => return self.decode(&bytes, "JSON of the expected shape"),
                Err(e) if e.is_transient() && retry + 1 < self.config.retry.max_attempts => {
                    let delay = self.config.retry.delay(retry);
                    tracing::warn!(instance = %self.config.name, %what, error = %e, ?delay, "retrying GET");
                    retry += 1;
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn decode<T: DeserializeOwned>(
        &self,
        bytes: &[u8],
        expected: &'static str,
    ) -> Result<T, UserSyncError> {
        serde_json::from_slice(bytes).map_err(|e| {
            // serde's message can quote a value from the body (a connector's secret,
            // say), so only the kind of error and its position are reported.
            let kind = match e.classify() {
                serde_json::error::Category::Data => "JSON of an unexpected shape",
                serde_json::error::Category::Eof => "cut-off JSON",
                _ => "not JSON",
            };
            UserSyncError::BadAnswer {
                instance: self.config.name.clone(),
                expected,
                detail: format!("{kind} at line {} column {}", e.line(), e.column()),
            }
        })
    }

    /// Sends one request, with no retry, counted and timed under `endpoint` (the name of
    /// its path template, never its URL): the one place every call goes through.
    async fn send_once(
        &self,
        method: Method,
        url: Url,
        body: Body<'_>,
        endpoint: Endpoint,
        what: &str,
    ) -> Result<(StatusCode, bytes::Bytes), UserSyncError> {
        let started = std::time::Instant::now();
        let result = self.exchange(method, url, body, what).await;
        if let Some(metrics) = &self.metrics {
            let status = status_label(result.as_ref().map(|(s, _)| s.as_u16()));
            metrics.observe(&self.config.name, endpoint, status, started.elapsed());
        }
        result
    }

    /// Sends one request and maps every failure to a [`UserSyncError`].
    async fn exchange(
        &self,
        method: Method,
        url: Url,
        body: Body<'_>,
        what: &str,
    ) -> Result<(StatusCode, bytes::Bytes), UserSyncError> {
        let instance = &self.config.name;
        let mutating = method != Method::GET;
        let mut request = self.http.request(method.clone(), url.clone());
        request = match &self.config.credentials {
            Credentials::Basic { username, password } => {
                request.basic_auth(username, Some(password.expose_secret()))
            }
            Credentials::Bearer { token } => request.bearer_auth(token.expose_secret()),
        };
        request = request.header(reqwest::header::ACCEPT, "application/json");
        if mutating {
            request = request.header(XSRF_HEADER, XSRF_VALUE);
        }
        if let Body::Json(value, content_type) = body {
            let bytes = serde_json::to_vec(value).map_err(|e| self.invalid(e.to_string()))?;
            request = request
                .header(CONTENT_TYPE, HeaderValue::from_static(content_type))
                .body(bytes);
        }
        tracing::debug!(%instance, %method, path = url.path(), "calling User Sync");
        let response = request
            .send()
            .await
            .map_err(|e| self.transport_error(e, &url))?;
        let status = response.status();
        let bytes = self.read_answer(response, &url).await?;
        if status.is_success() {
            return Ok((status, bytes));
        }
        let message = error_message(&bytes);
        let instance = instance.clone();
        Err(match status.as_u16() {
            401 | 403 => UserSyncError::CredentialsRejected {
                instance,
                status: status.as_u16(),
            },
            404 => UserSyncError::NotFound {
                instance,
                what: what.to_string(),
                message,
            },
            s @ 500..=599 => UserSyncError::Upstream {
                instance,
                status: s,
                message,
            },
            s => UserSyncError::Rejected {
                instance,
                status: s,
                message,
            },
        })
    }

    /// The answer's body, read chunk by chunk up to [`MAX_ANSWER_BYTES`].
    async fn read_answer(
        &self,
        mut response: reqwest::Response,
        url: &Url,
    ) -> Result<bytes::Bytes, UserSyncError> {
        let too_large = || UserSyncError::TooLarge {
            instance: self.config.name.clone(),
            limit: MAX_ANSWER_BYTES,
        };
        if response
            .content_length()
            .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
        {
            return Err(too_large());
        }
        let mut body = bytes::BytesMut::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(e, url))?
        {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }

    fn transport_error(&self, e: reqwest::Error, url: &Url) -> UserSyncError {
        let instance = self.config.name.clone();
        if e.is_timeout() {
            UserSyncError::Timeout {
                instance,
                timeout: self.config.timeout,
            }
        } else if e.is_connect() {
            UserSyncError::CannotConnect {
                instance,
                url: origin(url),
            }
        } else if cut_off(&e) {
            UserSyncError::Interrupted { instance }
        } else {
            // The reqwest error names the URL; that carries no secret (credentials travel
            // in headers), but the path is left out to keep the message short.
            UserSyncError::Transport {
                instance,
                detail: e.without_url().to_string(),
            }
        }
    }
}

/// Whether the connection was closed or reset under the request: the product (or a proxy
/// before it) went away mid-exchange, which may pass on its own.
fn cut_off(e: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            if matches!(
                io.kind(),
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof
            ) {
                return true;
            }
        }
        // hyper's "connection closed before message completed" carries no io::Error.
        if err
            .downcast_ref::<hyper::Error>()
            .is_some_and(|h| h.is_incomplete_message() || h.is_closed() || h.is_canceled())
        {
            return true;
        }
        source = err.source();
    }
    false
}

fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

fn trigger_answer(status: StatusCode, bytes: &[u8]) -> TriggerAnswer {
    let json = serde_json::from_slice::<Value>(bytes).ok();
    let text = if json.is_none() {
        let t = String::from_utf8_lossy(bytes).trim().to_string();
        (!t.is_empty()).then(|| truncate(&t, MAX_ERROR_MESSAGE_CHARS))
    } else {
        None
    };
    TriggerAnswer {
        http_status: status.as_u16(),
        json,
        text,
    }
}

/// Reads results from an array, or from an object that holds the array under a likely key.
fn results_from(value: Value) -> Option<Vec<SyncUserResult>> {
    let items = match value {
        Value::Array(items) => items,
        Value::Object(mut map) => {
            let key = ["results", "syncUserResults", "users", "values"]
                .into_iter()
                .find(|k| map.get(*k).is_some_and(Value::is_array))?;
            match map.remove(key) {
                Some(Value::Array(items)) => items,
                _ => return None,
            }
        }
        Value::Null => Vec::new(),
        _ => return None,
    };
    Some(
        items
            .into_iter()
            .map(|item| match item {
                Value::Object(fields) => SyncUserResult { fields },
                other => {
                    let mut fields = serde_json::Map::new();
                    fields.insert("value".into(), other);
                    SyncUserResult { fields }
                }
            })
            .collect(),
    )
}

/// The product's own error message from an error body: Atlassian's `message`,
/// `errorMessage` or `errorMessages`, or else a short plain-text body.
fn error_message(bytes: &[u8]) -> Option<String> {
    if let Ok(value) = serde_json::from_slice::<Value>(bytes) {
        let found = ["message", "errorMessage", "error"]
            .iter()
            .find_map(|k| value.get(*k).and_then(Value::as_str).map(str::to_string))
            .or_else(|| {
                value
                    .get("errorMessages")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
            });
        return found
            .filter(|m| !m.trim().is_empty())
            .map(|m| truncate(m.trim(), MAX_ERROR_MESSAGE_CHARS));
    }
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    // An HTML error page says nothing a person can use in chat.
    if text.is_empty() || text.starts_with('<') {
        return None;
    }
    Some(truncate(text, MAX_ERROR_MESSAGE_CHARS))
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base: &str) -> UserSyncClient {
        UserSyncClient::new(InstanceConfig::new(
            "jira",
            Url::parse(base).unwrap(),
            Credentials::Bearer {
                token: SecretString::from("t"),
            },
        ))
        .unwrap()
    }

    #[test]
    fn hostile_segments_stay_one_segment() {
        let c = client("https://jira.example.com/ctx/");
        for (input, encoded) in [
            ("../../directory/7", "..%2F..%2Fdirectory%2F7"),
            ("a/b?c#d", "a%2Fb%3Fc%23d"),
            ("Jürgen Müller", "J%C3%BCrgen%20M%C3%BCller"),
            ("100%", "100%25"),
        ] {
            let url = c
                .usersync_url(&["connector", "c1", "syncsingle", c.segment(input).unwrap()])
                .unwrap();
            assert_eq!(
                url.path(),
                format!("/ctx{USERSYNC_PREFIX}/connector/c1/syncsingle/{encoded}")
            );
            assert_eq!(url.query(), None);
            assert_eq!(url.fragment(), None);
        }
    }

    #[test]
    fn dot_segments_and_empty_ids_are_refused() {
        let c = client("https://jira.example.com");
        for bad in [".", "..", "", "  "] {
            assert!(
                matches!(c.segment(bad), Err(UserSyncError::InvalidArgument { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn error_messages_come_from_the_body_when_there_is_one() {
        assert_eq!(
            error_message(br#"{"message":"Directory 7 does not exists"}"#).as_deref(),
            Some("Directory 7 does not exists")
        );
        assert_eq!(
            error_message(br#"{"errorMessages":["a","b"]}"#).as_deref(),
            Some("a; b")
        );
        assert_eq!(error_message(b"<html>oops</html>"), None);
        assert_eq!(
            error_message(b"plain words").as_deref(),
            Some("plain words")
        );
    }

    #[test]
    fn retry_delays_grow_and_stay_capped() {
        let policy = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(300),
        };
        for _ in 0..50 {
            let d0 = policy.delay(0);
            assert!(d0 >= Duration::from_millis(50) && d0 <= Duration::from_millis(100));
            let d3 = policy.delay(3);
            assert!(d3 >= Duration::from_millis(150) && d3 <= Duration::from_millis(300));
        }
    }

    mod properties {
        use super::*;
        use percent_encoding::percent_decode_str;
        use proptest::prelude::*;
        use proptest::test_runner::Config;

        /// Identifiers with more than their share of what means something in a URL.
        fn identifier() -> impl Strategy<Value = String> {
            let piece = prop_oneof![
                any::<char>().prop_map(String::from),
                prop::sample::select(vec![
                    "/", "..", ".", "?", "#", "%", "%2e", "%2F", "%25", " ", "\\", ";", "&", "=",
                    "+", ":", "@", "\t", "\n", "ü", "\u{200B}", "\u{FF0E}", "~", "-", "_",
                ])
                .prop_map(String::from),
                "[a-zA-Z0-9]{1,4}",
            ];
            prop_oneof![
                prop::collection::vec(piece, 0..10).prop_map(|v| v.concat()),
                prop::sample::select(vec![".", "..", "...", " ", "", "./..", "%2e%2e"])
                    .prop_map(String::from),
            ]
        }

        /// Clients of base URLs with and without a context path, with and without a
        /// trailing slash, made once (a client loads the system's root certificates).
        static CLIENTS: std::sync::LazyLock<Vec<UserSyncClient>> = std::sync::LazyLock::new(|| {
            [
                "https://jira.example.com",
                "https://jira.example.com/",
                "https://jira.example.com/ctx",
                "https://jira.example.com/ctx/",
                "http://10.0.0.1:8080/a/b/",
            ]
            .into_iter()
            .map(client)
            .collect()
        });

        fn base() -> impl Strategy<Value = usize> {
            0..CLIENTS.len()
        }

        /// The segments of `url` under `prefix`, or a failure if it is not under it.
        fn segments_under(
            c: &UserSyncClient,
            url: &Url,
            prefix: &str,
        ) -> Result<Vec<String>, TestCaseError> {
            let expected = format!("{}{prefix}/", c.base_url().path().trim_end_matches('/'));
            prop_assert_eq!(url.query(), None);
            prop_assert_eq!(url.fragment(), None);
            // What is sent is the URL as text: parsed again, it is the same URL.
            let again = Url::parse(url.as_str()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&again, url);
            let rest = url.path().strip_prefix(&expected);
            prop_assert!(rest.is_some(), "{} is not under {}", url, expected);
            Ok(rest
                .unwrap_or_default()
                .split('/')
                .map(String::from)
                .collect())
        }

        fn decoded(segment: &str) -> String {
            percent_decode_str(segment).decode_utf8_lossy().into_owned()
        }

        proptest! {
            #![proptest_config(Config { cases: 1000, failure_persistence: None, ..Config::default() })]

            #[test]
            fn only_blank_ids_and_dot_segments_are_refused(id in identifier()) {
                let c = &CLIENTS[0];
                let refused = id.trim().is_empty() || id == "." || id == "..";
                prop_assert_eq!(c.segment(&id).is_err(), refused, "{:?}", id);
            }

            #[test]
            fn a_single_user_update_url_has_its_four_segments_and_the_user_decodes_back_exactly(
                base in base(),
                connector in identifier(),
                user in identifier(),
            ) {
                let c = &CLIENTS[base];
                let (Ok(conn), Ok(u)) = (c.segment(&connector), c.segment(&user)) else {
                    return Ok(());
                };
                // 1.9: the user in the path; 2.x: in the body.
                let url = c.usersync_url(&["connector", conn, "syncsingle", u]);
                prop_assert!(url.is_ok(), "{:?}", url);
                let url = url.unwrap_or_else(|_| unreachable!());
                let segments = segments_under(c, &url, USERSYNC_PREFIX)?;
                prop_assert_eq!(segments.len(), 4, "{}", url);
                prop_assert_eq!(&segments[0], "connector");
                prop_assert_eq!(&decoded(&segments[1]), &connector);
                prop_assert_eq!(&segments[2], "syncsingle");
                prop_assert_eq!(&decoded(&segments[3]), &user);
                let v2 = c.usersync_url(&["connector", conn, "syncsingle"]);
                let v2 = v2.map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(segments_under(c, &v2, USERSYNC_PREFIX)?.len(), 3);
            }

            #[test]
            fn a_connector_url_has_its_segments_and_the_id_decodes_back_exactly(
                base in base(),
                id in identifier(),
                tail in prop::sample::select(vec![None, Some("sync"), Some("syncstatus")]),
            ) {
                let c = &CLIENTS[base];
                let Ok(seg) = c.segment(&id) else { return Ok(()) };
                let mut parts = vec!["connector", seg];
                parts.extend(tail);
                let url = c.usersync_url(&parts).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let segments = segments_under(c, &url, USERSYNC_PREFIX)?;
                prop_assert_eq!(segments.len(), parts.len(), "{}", url);
                prop_assert_eq!(&decoded(&segments[1]), &id);
                if let Some(tail) = tail {
                    prop_assert_eq!(&segments[2], tail);
                }
                // The directory deletion, outside the User Sync prefix, holds the same way.
                let dir = c.url_under(DIRECTORY_PREFIX, &[seg]).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let segments = segments_under(c, &dir, DIRECTORY_PREFIX)?;
                prop_assert_eq!(segments.len(), 1, "{}", dir);
                prop_assert_eq!(&decoded(&segments[0]), &id);
            }
        }
    }
}
