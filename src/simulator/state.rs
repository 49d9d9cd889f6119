//! The simulator's state: connectors, syncs that progress with the clock, the call log
//! and the faults switched on at run time.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tokio::sync::Notify;

use super::seed::{self, SimConnector, SimUser};
use crate::usersync::ApiFlavour;

/// Share of a sync's duration spent scheduled before it runs.
const SCHEDULED_SHARE: f64 = 0.2;

/// What the simulator answers to a sync trigger, whose answer the vendor leaves open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TriggerAnswerMode {
    /// 204 with no body.
    #[default]
    Empty,
    /// 200 with the new sync's status record.
    Status,
    /// 200 with a line of plain text.
    Text,
}

/// Behaviour that can be changed while the simulator runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimSettings {
    /// How long a sync takes from trigger to DONE.
    #[serde(with = "millis", rename = "sync_duration_ms")]
    pub sync_duration: Duration,
    /// Start a sync of every enabled connector at this interval, as a product's schedule
    /// would; `None` (the default) turns the schedule off.
    #[serde(with = "opt_millis", rename = "schedule_interval_ms")]
    pub schedule_interval: Option<Duration>,
    pub trigger_answer: TriggerAnswerMode,
}

impl Default for SimSettings {
    fn default() -> Self {
        SimSettings {
            sync_duration: Duration::from_secs(20),
            schedule_interval: None,
            trigger_answer: TriggerAnswerMode::Empty,
        }
    }
}

/// A partial update of [`SimSettings`] from the admin endpoint.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsUpdate {
    pub sync_duration_ms: Option<u64>,
    /// `0` turns the schedule off.
    pub schedule_interval_ms: Option<u64>,
    pub trigger_answer: Option<TriggerAnswerMode>,
}

/// A user of a connector's identity provider, added or replaced through the admin
/// endpoint.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    pub display_name: Option<String>,
    pub email: Option<String>,
    /// Every update of this user fails with this message.
    pub fails_with: Option<String>,
}

/// Faults switched on through the admin endpoint. They apply to API calls only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Added to every matching call before it is answered.
    pub latency_ms: u64,
    /// Share (0 to 1) of matching calls answered with `error_status`.
    pub error_rate: f64,
    pub error_status: u16,
    /// Answer 401 whatever the credentials.
    pub unauthorized: bool,
    /// Answer with a cut-off JSON body instead of the real one.
    pub malformed_json: bool,
    /// Never answer.
    pub hang: bool,
    /// Do what the call asks, then never answer: the work is done and its answer lost
    /// (a sync triggered behind a proxy that timed out).
    pub hang_after: bool,
    /// Answer with the real JSON after this many bytes of whitespace (still valid JSON),
    /// streamed with no length given: an answer too large to buffer. `0` is off.
    pub oversize_bytes: u64,
    /// With `oversize_bytes`: say the answer's length up front (`Content-Length`), as a
    /// server that knows it does, instead of streaming it.
    pub oversize_declared: bool,
    /// Only calls with this method (GET, POST, …).
    pub method: Option<String>,
    /// Only calls whose path contains this.
    pub path_contains: Option<String>,
    /// Affect this many matching calls, then switch off; `None` for no limit.
    pub remaining: Option<u32>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            latency_ms: 0,
            error_rate: 0.0,
            error_status: 503,
            unauthorized: false,
            malformed_json: false,
            hang: false,
            hang_after: false,
            oversize_bytes: 0,
            oversize_declared: false,
            method: None,
            path_contains: None,
            remaining: None,
        }
    }
}

impl Faults {
    fn is_active(&self) -> bool {
        self.remaining != Some(0)
            && (self.latency_ms > 0
                || self.error_rate > 0.0
                || self.unauthorized
                || self.malformed_json
                || self.oversize_bytes > 0
                || self.hang
                || self.hang_after)
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| path.contains(p))
    }
}

/// What one call is to suffer, decided when it arrives.
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    pub latency: Duration,
    pub hang: bool,
    pub hang_after: bool,
    pub unauthorized: bool,
    pub error_status: Option<u16>,
    pub malformed_json: bool,
    pub oversize_bytes: u64,
    pub oversize_declared: bool,
}

/// One request the simulator received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedCall {
    pub method: String,
    /// The path exactly as sent, percent-encoding included.
    pub path: String,
    pub query: Option<String>,
    pub content_type: Option<String>,
    /// The `X-Atlassian-Token` header.
    pub atlassian_token: Option<String>,
    /// `Basic <username>` or `Bearer` (never the password or token).
    pub auth: Option<String>,
    pub body: String,
    /// The status answered, once known (absent while the call is in flight or hanging).
    pub status: Option<u16>,
}

/// Who the simulator lets in.
#[derive(Debug, Clone)]
pub struct SimAuth {
    pub username: String,
    pub password: String,
    pub token: String,
}

impl Default for SimAuth {
    fn default() -> Self {
        SimAuth {
            username: "admin".into(),
            password: "admin".into(),
            token: "sim-personal-access-token".into(),
        }
    }
}

/// How a sync was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncOrigin {
    Api,
    Schedule,
}

#[derive(Debug, Clone)]
struct SimSync {
    id: u64,
    connector_uid: String,
    created: DateTime<Utc>,
    /// `None` for the seeded history: those syncs are over.
    started: Option<Instant>,
    duration: Duration,
    node: String,
    failure: Option<String>,
    results: Vec<Value>,
    messages: Vec<String>,
    /// Set through the admin endpoint: merged (RFC 7386) into every rendering of the
    /// record, to show the bot fields and values the vendor never documented.
    overrides: Option<Value>,
}

struct Inner {
    settings: SimSettings,
    connectors: Vec<SimConnector>,
    syncs: BTreeMap<u64, SimSync>,
    next_sync_id: u64,
    next_directory_id: u64,
    calls: Vec<RecordedCall>,
    faults: Faults,
}

/// The state shared by the simulator's handlers, its schedule and its in-process handle.
pub struct SimState {
    pub api: ApiFlavour,
    pub auth: SimAuth,
    inner: Mutex<Inner>,
    /// Woken when the settings change, so the schedule picks up a new interval at once.
    pub(super) settings_changed: Notify,
}

/// Why an API operation was refused, as the product would say it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiFailure {
    pub status: u16,
    pub message: String,
}

impl ApiFailure {
    fn new(status: u16, message: impl Into<String>) -> Self {
        ApiFailure {
            status,
            message: message.into(),
        }
    }
}

const NODES: [&str; 2] = ["jira-node-1", "jira-node-2"];

impl SimState {
    pub fn new(api: ApiFlavour, auth: SimAuth, settings: SimSettings) -> Arc<Self> {
        let connectors = seed::connectors();
        let mut syncs = BTreeMap::new();
        // A finished sync per connector, so every connector has a last status from the start.
        let now = Utc::now();
        for (i, connector) in connectors.iter().enumerate() {
            let id = seed::FIRST_SYNC_ID - connectors.len() as u64 + i as u64;
            let mut sync = plan_sync(id, connector, settings.sync_duration, false);
            sync.started = None;
            sync.created = now - chrono::Duration::hours(6 - i as i64);
            syncs.insert(id, sync);
        }
        Arc::new(SimState {
            api,
            auth,
            inner: Mutex::new(Inner {
                settings,
                connectors,
                syncs,
                next_sync_id: seed::FIRST_SYNC_ID,
                next_directory_id: seed::NEXT_DIRECTORY_ID,
                calls: Vec::new(),
                faults: Faults::default(),
            }),
            settings_changed: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    // --- admin side -------------------------------------------------------------------

    pub fn settings(&self) -> SimSettings {
        self.lock().settings.clone()
    }

    pub fn update_settings(&self, update: SettingsUpdate) -> SimSettings {
        let settings = {
            let mut inner = self.lock();
            if let Some(ms) = update.sync_duration_ms {
                inner.settings.sync_duration = Duration::from_millis(ms);
            }
            if let Some(ms) = update.schedule_interval_ms {
                inner.settings.schedule_interval = (ms > 0).then(|| Duration::from_millis(ms));
            }
            if let Some(mode) = update.trigger_answer {
                inner.settings.trigger_answer = mode;
            }
            inner.settings.clone()
        };
        self.settings_changed.notify_waiters();
        settings
    }

    pub fn calls(&self) -> Vec<RecordedCall> {
        self.lock().calls.clone()
    }

    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    pub fn faults(&self) -> Faults {
        self.lock().faults.clone()
    }

    pub fn set_faults(&self, faults: Faults) {
        self.lock().faults = faults;
    }

    /// Makes every sync of a connector fail as a whole with `message` (`None` ends that).
    pub fn set_connector_failure(
        &self,
        connector: &str,
        message: Option<String>,
    ) -> Result<(), ApiFailure> {
        let mut inner = self.lock();
        let c = find_connector_mut(&mut inner.connectors, connector)?;
        c.fail_with = message;
        Ok(())
    }

    /// Adds a user to a connector's identity provider, or replaces the one with that
    /// username (in any case).
    pub fn put_user(
        &self,
        connector: &str,
        user_name: &str,
        update: UserUpdate,
    ) -> Result<(), ApiFailure> {
        let mut inner = self.lock();
        let c = find_connector_mut(&mut inner.connectors, connector)?;
        let user = SimUser {
            user_name: user_name.to_string(),
            display_name: update.display_name.unwrap_or_else(|| user_name.to_string()),
            email: update
                .email
                .unwrap_or_else(|| format!("{user_name}@acme.example")),
            fails_with: update.fails_with,
        };
        c.removed
            .retain(|u| !u.user_name.eq_ignore_ascii_case(user_name));
        match c
            .users
            .iter_mut()
            .find(|u| u.user_name.eq_ignore_ascii_case(user_name))
        {
            Some(existing) => *existing = user,
            None => c.users.push(user),
        }
        Ok(())
    }

    /// Removes a user from a connector's identity provider: the next sync deletes them
    /// (reports them DELETED), as a product does for a user gone from the directory.
    pub fn remove_user(&self, connector: &str, user_name: &str) -> Result<(), ApiFailure> {
        let mut inner = self.lock();
        let c = find_connector_mut(&mut inner.connectors, connector)?;
        let i = c
            .users
            .iter()
            .position(|u| u.user_name.eq_ignore_ascii_case(user_name))
            .ok_or_else(|| {
                ApiFailure::new(
                    404,
                    format!("User {user_name} was not found in {}", c.name()),
                )
            })?;
        let user = c.users.remove(i);
        c.removed.push(user);
        Ok(())
    }

    /// Merges `overrides` into every later rendering of a sync's record (`null` removes
    /// a field); `Value::Null` clears the overrides.
    pub fn override_sync(&self, id: u64, overrides: Value) -> Result<(), ApiFailure> {
        let mut inner = self.lock();
        let sync = inner
            .syncs
            .get_mut(&id)
            .ok_or_else(|| ApiFailure::new(404, format!("Sync status {id} not found")))?;
        sync.overrides = (!overrides.is_null()).then_some(overrides);
        Ok(())
    }

    /// The id the next sync will get.
    pub fn next_sync_id(&self) -> u64 {
        self.lock().next_sync_id
    }

    pub(super) fn record_call(&self, call: RecordedCall) -> usize {
        let mut inner = self.lock();
        inner.calls.push(call);
        inner.calls.len() - 1
    }

    pub(super) fn record_status(&self, index: usize, status: u16) {
        if let Some(call) = self.lock().calls.get_mut(index) {
            call.status = Some(status);
        }
    }

    /// Decides the faults one call suffers, counting it against `remaining`.
    pub(super) fn plan_faults(&self, method: &str, path: &str) -> FaultPlan {
        let mut inner = self.lock();
        let faults = &mut inner.faults;
        if !faults.is_active() || !faults.matches(method, path) {
            return FaultPlan::default();
        }
        if let Some(n) = faults.remaining.as_mut() {
            *n -= 1;
        }
        let error = faults.error_rate > 0.0 && fastrand::f64() < faults.error_rate;
        FaultPlan {
            latency: Duration::from_millis(faults.latency_ms),
            hang: faults.hang,
            hang_after: faults.hang_after,
            unauthorized: faults.unauthorized,
            error_status: error.then_some(faults.error_status),
            malformed_json: faults.malformed_json,
            oversize_bytes: faults.oversize_bytes,
            oversize_declared: faults.oversize_declared,
        }
    }

    // --- API side ---------------------------------------------------------------------

    pub fn list_connectors(&self) -> Vec<Value> {
        self.lock()
            .connectors
            .iter()
            .map(|c| Value::Object(c.settings.clone()))
            .collect()
    }

    pub fn connector(&self, id: &str) -> Result<Value, ApiFailure> {
        let inner = self.lock();
        let c = find_connector(&inner.connectors, id)?;
        Ok(Value::Object(c.settings.clone()))
    }

    /// Applies a patch to a connector's settings. `uniqueId` and `directoryId` belong to
    /// the product and cannot be patched; saving a connector whose directory was deleted
    /// recreates the directory under a new id.
    pub fn patch_connector(
        &self,
        id: &str,
        apply: impl FnOnce(&mut Value) -> Result<(), String>,
    ) -> Result<Value, ApiFailure> {
        let mut inner = self.lock();
        let next_directory_id = inner.next_directory_id;
        let c = find_connector_mut(&mut inner.connectors, id)?;
        let mut doc = Value::Object(c.settings.clone());
        apply(&mut doc)
            .map_err(|e| ApiFailure::new(400, format!("The patch does not apply: {e}")))?;
        let Value::Object(mut patched) = doc else {
            return Err(ApiFailure::new(400, "A connector must stay a JSON object"));
        };
        for fixed in ["uniqueId", "directoryId"] {
            if patched.get(fixed) != c.settings.get(fixed) {
                return Err(ApiFailure::new(
                    400,
                    format!("The field {fixed} cannot be changed"),
                ));
            }
        }
        let recreated = !c.directory_exists;
        if recreated {
            patched.insert("directoryId".into(), json!(next_directory_id));
            c.directory_exists = true;
        }
        c.settings = patched;
        let answer = Value::Object(c.settings.clone());
        if recreated {
            inner.next_directory_id += 100;
        }
        Ok(answer)
    }

    /// Starts a sync. Refused while the connector's last sync is still going.
    pub fn start_sync(
        &self,
        connector: &str,
        local: bool,
        origin: SyncOrigin,
    ) -> Result<Value, ApiFailure> {
        let mut inner = self.lock();
        let now = Instant::now();
        let duration = inner.settings.sync_duration;
        let c = find_connector(&inner.connectors, connector)?.clone();
        if let Some(last) = last_sync_of(&inner.syncs, c.unique_id()) {
            if !is_over(last, now) {
                return Err(ApiFailure::new(
                    409,
                    format!(
                        "A sync of connector {} is already running (sync {})",
                        c.name(),
                        last.id
                    ),
                ));
            }
        }
        let id = inner.next_sync_id;
        inner.next_sync_id += 1;
        let mut sync = plan_sync(id, &c, duration, local);
        // Users gone from the identity provider are deleted by this sync, and only by it.
        if sync.failure.is_none() {
            if let Ok(c) = find_connector_mut(&mut inner.connectors, c.unique_id()) {
                c.removed.clear();
            }
        }
        if origin == SyncOrigin::Schedule {
            sync.messages
                .insert(1, "Triggered by the sync schedule".into());
        }
        let record = render(&sync, now);
        inner.syncs.insert(id, sync);
        Ok(record)
    }

    /// Starts a sync of every enabled connector that is not already syncing.
    pub fn run_schedule(&self) -> Vec<u64> {
        let ids: Vec<String> = self
            .lock()
            .connectors
            .iter()
            .filter(|c| c.settings.get("enabled") != Some(&Value::Bool(false)))
            .map(|c| c.unique_id().to_string())
            .collect();
        ids.iter()
            .filter_map(|id| self.start_sync(id, false, SyncOrigin::Schedule).ok())
            .filter_map(|record| record.get("id").and_then(Value::as_u64))
            .collect()
    }

    pub fn last_sync_status(&self, connector: &str) -> Result<Value, ApiFailure> {
        let inner = self.lock();
        let c = find_connector(&inner.connectors, connector)?;
        let sync = last_sync_of(&inner.syncs, c.unique_id()).ok_or_else(|| {
            ApiFailure::new(404, format!("No sync has run for connector {}", c.name()))
        })?;
        Ok(render(sync, Instant::now()))
    }

    pub fn sync_status(&self, id: &str) -> Result<Value, ApiFailure> {
        let inner = self.lock();
        let sync = find_sync(&inner.syncs, id)?;
        Ok(render(sync, Instant::now()))
    }

    /// Per-user results so far; `count` is the query value (`None`: the first 10).
    pub fn sync_results(&self, id: &str, count: Option<&str>) -> Result<Value, ApiFailure> {
        let limit = match count {
            None => Some(10),
            Some("-1") => None,
            Some(n) => Some(n.parse::<usize>().map_err(|_| {
                ApiFailure::new(400, format!("count must be a number or -1, not {n:?}"))
            })?),
        };
        let inner = self.lock();
        let sync = find_sync(&inner.syncs, id)?;
        let done = progress(sync, Instant::now()).1;
        let available = &sync.results[..done];
        let shown = limit.map_or(available, |n| &available[..n.min(available.len())]);
        Ok(Value::Array(shown.to_vec()))
    }

    /// A single-user update: finds the user by username or e-mail (username only with
    /// `by_username`) and answers what happened to them.
    pub fn sync_single_user(
        &self,
        connector: &str,
        identifier: &str,
        by_username: bool,
    ) -> Result<Value, ApiFailure> {
        let inner = self.lock();
        let c = find_connector(&inner.connectors, connector)?;
        if !c.directory_exists {
            return Err(ApiFailure::new(
                500,
                format!("Directory {} does not exists", c.directory_id()),
            ));
        }
        let wanted = identifier.trim();
        let user = c
            .users
            .iter()
            .find(|u| {
                u.user_name.eq_ignore_ascii_case(wanted)
                    || (!by_username && u.email.eq_ignore_ascii_case(wanted))
            })
            .ok_or_else(|| {
                ApiFailure::new(
                    404,
                    format!("User {identifier} was not found in {}", c.name()),
                )
            })?;
        let (action, message) = match &user.fails_with {
            Some(m) => ("FAILED", m.clone()),
            None => (
                "UPDATED",
                format!("User {} updated from {}", user.user_name, c.name()),
            ),
        };
        Ok(json!({
            "identifier": identifier,
            "userName": user.user_name,
            "displayName": user.display_name,
            "email": user.email,
            "action": action,
            "message": message,
            "directoryId": c.directory_id(),
        }))
    }

    /// Deletes a directory: the connector's syncs fail until the connector is saved.
    pub fn delete_directory(&self, directory_id: &str) -> Result<(), ApiFailure> {
        let mut inner = self.lock();
        let c = inner
            .connectors
            .iter_mut()
            .find(|c| c.directory_exists && c.directory_id().to_string() == directory_id)
            .ok_or_else(|| ApiFailure::new(404, format!("Directory {directory_id} not found")))?;
        c.directory_exists = false;
        Ok(())
    }
}

fn find_connector<'a>(
    connectors: &'a [SimConnector],
    id: &str,
) -> Result<&'a SimConnector, ApiFailure> {
    connectors
        .iter()
        .find(|c| c.unique_id() == id)
        .ok_or_else(|| ApiFailure::new(404, format!("Connector {id} not found")))
}

fn find_connector_mut<'a>(
    connectors: &'a mut [SimConnector],
    id: &str,
) -> Result<&'a mut SimConnector, ApiFailure> {
    connectors
        .iter_mut()
        .find(|c| c.unique_id() == id)
        .ok_or_else(|| ApiFailure::new(404, format!("Connector {id} not found")))
}

fn find_sync<'a>(syncs: &'a BTreeMap<u64, SimSync>, id: &str) -> Result<&'a SimSync, ApiFailure> {
    id.parse::<u64>()
        .ok()
        .and_then(|n| syncs.get(&n))
        .ok_or_else(|| ApiFailure::new(404, format!("Sync status {id} not found")))
}

fn last_sync_of<'a>(syncs: &'a BTreeMap<u64, SimSync>, connector_uid: &str) -> Option<&'a SimSync> {
    syncs
        .values()
        .rev()
        .find(|s| s.connector_uid == connector_uid)
}

/// Works out the outcome of a sync when it starts: the simulator only reveals it as
/// time passes.
fn plan_sync(id: u64, connector: &SimConnector, duration: Duration, local: bool) -> SimSync {
    let mut rng = fastrand::Rng::with_seed(id);
    let job = uuid::Uuid::new_v4();
    let mut messages = vec![format!("Scheduled with jobid {job}")];
    let node = if local {
        NODES[0].to_string()
    } else {
        NODES[rng.usize(..NODES.len())].to_string()
    };
    messages.push(if local {
        format!("Running locally on {node} (RUN_LOCALLY)")
    } else {
        format!("Running once per cluster on {node} (RUN_ONCE_PER_CLUSTER)")
    });
    let failure = if !connector.directory_exists {
        Some(format!(
            "Directory {} does not exists",
            connector.directory_id()
        ))
    } else {
        connector.fail_with.clone()
    };
    let mut results = Vec::new();
    if let Some(f) = &failure {
        messages.push(f.clone());
    } else {
        messages.push("Skipping admin or sysadmin <admin>".into());
        for user in &connector.users {
            let (action, message) = match &user.fails_with {
                Some(m) => {
                    messages.push(m.clone());
                    ("FAILED", Some(m.clone()))
                }
                None => match rng.u32(..100) {
                    0..=69 => ("NOT_MODIFIED", None),
                    70..=84 => ("UPDATED", Some("Groups or attributes changed".to_string())),
                    85..=90 => ("ADDED", None),
                    91..=93 => (
                        "DELETED",
                        Some("No longer in the identity provider".to_string()),
                    ),
                    _ => ("FILTERED", Some("Not in a synced group".to_string())),
                },
            };
            results.push(json!({
                "userName": user.user_name,
                "displayName": user.display_name,
                "email": user.email,
                "action": action,
                "message": message,
            }));
        }
        for user in &connector.removed {
            results.push(json!({
                "userName": user.user_name,
                "displayName": user.display_name,
                "email": user.email,
                "action": "DELETED",
                "message": "No longer in the identity provider",
            }));
        }
        if connector.settings.get("cleanupUsersWithoutTimestamp") == Some(&Value::Bool(false)) {
            messages.push(
                "User <test> has no lastAuthenticated timestamp and cleanup users without \
                 timestamp is disabled. Therefore the user will not be cleaned up."
                    .into(),
            );
        }
    }
    SimSync {
        id,
        connector_uid: connector.unique_id().to_string(),
        created: Utc::now(),
        started: Some(Instant::now()),
        duration,
        node,
        failure,
        results,
        messages,
        overrides: None,
    }
}

/// Fraction of the run done (0..=1) and how many results are out, at `now`.
fn progress(sync: &SimSync, now: Instant) -> (f64, usize) {
    let Some(started) = sync.started else {
        return (1.0, sync.results.len());
    };
    let elapsed = now.saturating_duration_since(started).as_secs_f64();
    let total = sync.duration.as_secs_f64();
    if total <= 0.0 || elapsed >= total {
        return (1.0, sync.results.len());
    }
    let scheduled = total * SCHEDULED_SHARE;
    if elapsed < scheduled {
        return (0.0, 0);
    }
    let fraction = (elapsed - scheduled) / (total - scheduled);
    let done = ((sync.results.len() as f64) * fraction).floor() as usize;
    (fraction, done.min(sync.results.len()))
}

fn is_over(sync: &SimSync, now: Instant) -> bool {
    progress(sync, now).0 >= 1.0
}

/// The status record of a sync as it stands at `now`.
fn render(sync: &SimSync, now: Instant) -> Value {
    let (fraction, done) = progress(sync, now);
    let over = fraction >= 1.0;
    let running = sync.started.is_some_and(|s| {
        now.saturating_duration_since(s).as_secs_f64()
            >= sync.duration.as_secs_f64() * SCHEDULED_SHARE
    });
    let status = match (over, &sync.failure, running) {
        (true, Some(_), _) => "FAILED",
        (true, None, _) => "DONE",
        (false, _, true) => "RUNNING",
        (false, _, false) => "SCHEDULED",
    };
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for r in &sync.results[..done] {
        let key = match r.get("action").and_then(Value::as_str) {
            Some("ADDED") => "addedCount",
            Some("UPDATED") => "updatedCount",
            Some("DELETED") => "deletedCount",
            Some("FAILED") => "failedCount",
            Some("FILTERED") => "filteredCount",
            _ => "notModifiedCount",
        };
        *counts.entry(key).or_default() += 1;
    }
    let elapsed = match sync.started {
        None => sync.duration,
        Some(s) => now.saturating_duration_since(s).min(sync.duration),
    };
    let last_modified = sync.created + chrono::Duration::from_std(elapsed).unwrap_or_default();
    let messages: Vec<&String> = if over {
        sync.messages.iter().collect()
    } else {
        sync.messages.iter().take(1).collect()
    };
    let result = match (over, &sync.failure) {
        (true, Some(_)) => json!("ERROR"),
        (true, None) => json!("SUCCESS"),
        _ => Value::Null,
    };
    let count = |k: &str| counts.get(k).copied().unwrap_or(0);
    let mut record = Map::new();
    record.insert("status".into(), json!(status));
    record.insert("addedCount".into(), json!(count("addedCount")));
    record.insert("resultCount".into(), json!(done));
    record.insert("notModifiedCount".into(), json!(count("notModifiedCount")));
    record.insert("failedCount".into(), json!(count("failedCount")));
    record.insert("updatedCount".into(), json!(count("updatedCount")));
    record.insert("deletedCount".into(), json!(count("deletedCount")));
    record.insert("filteredCount".into(), json!(count("filteredCount")));
    record.insert("messages".into(), json!(messages));
    record.insert(
        "clusterNode".into(),
        if running || over {
            json!(sync.node)
        } else {
            Value::Null
        },
    );
    record.insert("connectorUID".into(), json!(sync.connector_uid));
    record.insert("lastModified".into(), json!(timestamp(last_modified)));
    record.insert("created".into(), json!(timestamp(sync.created)));
    record.insert(
        "duration".into(),
        json!(if over {
            sync.duration.as_millis() as u64
        } else {
            0
        }),
    );
    record.insert("id".into(), json!(sync.id));
    record.insert(
        "resultMessage".into(),
        if over {
            json!(sync.failure)
        } else {
            Value::Null
        },
    );
    record.insert("resultFilePath".into(), Value::Null);
    record.insert("syncUserResults".into(), Value::Null);
    record.insert("connectorSupportInformation".into(), Value::Null);
    record.insert("syncStatusResult".into(), result);
    record.insert("_self".into(), json!(format!("/syncstatus/{}", sync.id)));
    let mut record = Value::Object(record);
    if let Some(overrides) = &sync.overrides {
        json_patch::merge(&mut record, overrides);
    }
    record
}

fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

mod opt_millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_u64(d.as_millis() as u64),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(duration_ms: u64) -> Arc<SimState> {
        SimState::new(
            ApiFlavour::V2,
            SimAuth::default(),
            SimSettings {
                sync_duration: Duration::from_millis(duration_ms),
                ..SimSettings::default()
            },
        )
    }

    const AZURE: &str = "7df9fd3f-793f-4595-b415-b839b76b0018";

    #[test]
    fn a_sync_moves_from_scheduled_to_running_to_done() {
        let s = state(10_000);
        let record = s.start_sync(AZURE, false, SyncOrigin::Api).unwrap();
        let id = record["id"].as_u64().unwrap();
        assert_eq!(record["status"], "SCHEDULED");
        let inner = s.lock();
        let sync = &inner.syncs[&id];
        let base = sync.started.unwrap();
        let at = |ms| render(sync, base + Duration::from_millis(ms));
        assert_eq!(at(1_000)["status"], "SCHEDULED");
        let running = at(6_000);
        assert_eq!(running["status"], "RUNNING");
        assert!(running["resultCount"].as_u64().unwrap() < sync.results.len() as u64);
        let done = at(10_000);
        assert_eq!(done["status"], "DONE");
        assert_eq!(done["syncStatusResult"], "SUCCESS");
        assert_eq!(
            done["resultCount"].as_u64().unwrap(),
            sync.results.len() as u64
        );
        let sum: u64 = [
            "addedCount",
            "updatedCount",
            "deletedCount",
            "failedCount",
            "filteredCount",
            "notModifiedCount",
        ]
        .iter()
        .map(|k| done[*k].as_u64().unwrap())
        .sum();
        assert_eq!(sum, done["resultCount"].as_u64().unwrap());
        assert!(done["messages"][0]
            .as_str()
            .unwrap()
            .starts_with("Scheduled with jobid "));
    }

    #[test]
    fn a_second_sync_is_refused_while_one_runs() {
        let s = state(60_000);
        s.start_sync(AZURE, false, SyncOrigin::Api).unwrap();
        let err = s.start_sync(AZURE, false, SyncOrigin::Api).unwrap_err();
        assert_eq!(err.status, 409);
    }

    #[test]
    fn a_user_added_then_removed_from_the_identity_provider_is_deleted_by_the_next_sync_only() {
        let s = state(0);
        let results = |s: &SimState| {
            let id = s.start_sync(AZURE, false, SyncOrigin::Api).unwrap()["id"]
                .as_u64()
                .unwrap();
            s.sync_results(&id.to_string(), Some("-1")).unwrap()
        };
        let action = |results: &Value, user: &str| {
            results
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["userName"] == user)
                .map(|r| r["action"].as_str().unwrap().to_string())
        };
        s.put_user(
            AZURE,
            "break-glass-1",
            UserUpdate {
                fails_with: Some("Locked out".into()),
                ..UserUpdate::default()
            },
        )
        .unwrap();
        s.put_user(AZURE, "svc-backup", UserUpdate::default())
            .unwrap();
        let first = results(&s);
        assert_eq!(action(&first, "break-glass-1").as_deref(), Some("FAILED"));
        assert!(action(&first, "svc-backup").is_some());
        s.remove_user(AZURE, "SVC-BACKUP").unwrap();
        assert_eq!(s.remove_user(AZURE, "svc-backup").unwrap_err().status, 404);
        assert_eq!(
            s.sync_single_user(AZURE, "svc-backup", true)
                .unwrap_err()
                .status,
            404
        );
        let second = results(&s);
        assert_eq!(action(&second, "svc-backup").as_deref(), Some("DELETED"));
        let third = results(&s);
        assert_eq!(action(&third, "svc-backup"), None, "deleted once");
        assert_eq!(
            s.put_user("nope", "x", UserUpdate::default())
                .unwrap_err()
                .status,
            404
        );
    }

    #[test]
    fn fault_budget_counts_down_and_switches_off() {
        let s = state(0);
        s.set_faults(Faults {
            error_rate: 1.0,
            remaining: Some(2),
            ..Faults::default()
        });
        assert_eq!(s.plan_faults("GET", "/x").error_status, Some(503));
        assert_eq!(s.plan_faults("GET", "/x").error_status, Some(503));
        assert_eq!(s.plan_faults("GET", "/x").error_status, None);
    }
}
