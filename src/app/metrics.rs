//! The bot's metrics: one `prometheus-client` [`Registry`] owned by the app (no global
//! one), exposed at `/metrics` in the Prometheus text format (or OpenMetrics when the
//! scraper asks for it); and the rate-limited log of refused requests.
//!
//! Each family is measured where it happens and registered here: the User Sync client
//! counts its calls into [`UpstreamMetrics`], the timed store its operations into
//! [`OperationDurations`], the chat APIs their retries, the watcher and the audit writer
//! their own counters; this file names them all.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::audit::AuditStats;
use crate::chat::Refusal;
use crate::command::{self, CommandKind};
use crate::domain::Platform;
use crate::notify::NotifyMetrics;
use crate::store::{operation_durations, Decision, OperationDurations};
use crate::usersync::metrics::UpstreamMetrics;

/// The prefix of every metric's name.
pub const PREFIX: &str = "usersync_bot";
/// The `route` label of a request that matched no route.
pub const UNMATCHED: &str = "unmatched";

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RefusalLabels {
    platform: &'static str,
    reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DecisionLabels {
    command: &'static str,
    decision: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct HttpLabels {
    route: Cow<'static, str>,
    method: &'static str,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    route: Cow<'static, str>,
}

/// The bot's own routes, as their labels: a request to one of them costs no allocation
/// (every request is measured). Any other matched path is labelled with a copy.
const ROUTES: [&str; 9] = [
    "/slack/commands",
    "/slack/interactions",
    "/mattermost/commands",
    "/mattermost/actions",
    "/mattermost/dialogs",
    "/healthz",
    "/readyz",
    "/metrics",
    "/hooks/commands/local",
];

/// The kinds of [`Refusal`], for the counters kept per kind.
const REFUSALS: usize = 11;

fn platform_index(platform: Platform) -> usize {
    match platform {
        Platform::Slack => 0,
        Platform::Mattermost => 1,
    }
}

/// Where a route's series is kept: its place in `ROUTES`, or last for `unmatched`.
fn route_index(route: Option<&str>) -> Option<usize> {
    match route {
        None => Some(ROUTES.len()),
        Some(route) => ROUTES.iter().position(|known| *known == route),
    }
}

fn route_label(route: Option<&str>) -> Cow<'static, str> {
    match (route_index(route), route) {
        (Some(i), _) => Cow::Borrowed(ROUTES.get(i).copied().unwrap_or(UNMATCHED)),
        (None, route) => Cow::Owned(route.unwrap_or_default().to_string()),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// What became of a verified command, as `command_decisions_total` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandDecision {
    Allowed,
    /// By role, channel, lock, freeze or another rule.
    Denied,
    /// It did not parse.
    Invalid,
    /// A re-delivery, answered without running again.
    Duplicate,
}

impl CommandDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            CommandDecision::Allowed => "allowed",
            CommandDecision::Denied => "denied",
            CommandDecision::Invalid => "invalid",
            CommandDecision::Duplicate => "duplicate",
        }
    }
}

impl From<Decision> for CommandDecision {
    fn from(decision: Decision) -> Self {
        match decision {
            Decision::Allowed => CommandDecision::Allowed,
            Decision::Denied => CommandDecision::Denied,
            Decision::Invalid => CommandDecision::Invalid,
        }
    }
}

/// Upper bounds of HTTP request durations, in seconds (a command's answer waits up to
/// the inline budget).
const HTTP_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn http_histogram() -> Histogram {
    Histogram::new(HTTP_BUCKETS)
}

/// The `method` label: the standard methods, anything else as `other` (the label stays
/// bounded whatever a client sends).
fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

/// How `/metrics` is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format 0.0.4: the default.
    Text,
    /// OpenMetrics 1.0.0, ending with `# EOF`: when the `Accept` header asks for it.
    OpenMetrics,
}

impl Format {
    /// The format an `Accept` header asks for.
    pub fn from_accept(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Text,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// Every metric of the bot, in the registry that exposes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    refusals: Family<RefusalLabels, Counter>,
    pub ssl_checks: Counter,
    /// Every verified command (`commands_total`, unlabelled as it always was).
    pub commands: Counter,
    /// The same commands by name and decision.
    decisions: Family<DecisionLabels, Counter>,
    pub denied: Counter,
    pub invalid: Counter,
    pub duplicates: Counter,
    pub deferred: Counter,
    pub followups_sent: Counter,
    pub followups_failed: Counter,
    /// Button clicks verified and handled, and those of them refused.
    pub clicks: Counter,
    pub clicks_refused: Counter,
    http_requests: Family<HttpLabels, Counter>,
    http_durations: Family<RouteLabels, Histogram, fn() -> Histogram>,
    /// Calls of the User Sync API: each client counts into a clone.
    pub upstream: UpstreamMetrics,
    /// Store operations: the timed store observes into a clone.
    pub store_durations: OperationDurations,
    /// Retries of chat posts and follow-ups: each chat API counts into a clone.
    pub outbox_retries: Counter,
    jobs_held: Gauge,
    jobs_followed: Gauge,
    watcher_leader: Gauge,
    refusal_log: RefusalLog,
    /// The series of the bot's own routes (`ROUTES`, then `unmatched`) and of each
    /// refusal, kept once found: every request is measured, and a look-up in a family
    /// (lock, hash of the labels) was a good part of what refusing one costs.
    route_durations: [OnceLock<Histogram>; ROUTES.len() + 1],
    refusal_counters: [[OnceLock<Counter>; REFUSALS]; 2],
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Refusals logged line by line in one second before the rest are only counted.
const REFUSAL_LOG_BURST: u64 = 20;

/// Logs refusals so that a flood of forged requests cannot flood the log: the first few
/// each second get a line each, the rest a summary line with their number. Every one is
/// counted in the metrics either way.
#[derive(Debug, Default)]
struct RefusalLog {
    second: AtomicU64,
    in_second: AtomicU64,
    suppressed: AtomicU64,
}

impl RefusalLog {
    fn log(&self, platform: Platform, refusal: Refusal) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if self.second.swap(now, Ordering::Relaxed) != now {
            self.in_second.store(0, Ordering::Relaxed);
            let suppressed = self.suppressed.swap(0, Ordering::Relaxed);
            if suppressed > 0 {
                tracing::warn!(
                    suppressed,
                    "more requests were refused than are logged one by one; all are counted in /metrics"
                );
            }
        }
        if self.in_second.fetch_add(1, Ordering::Relaxed) < REFUSAL_LOG_BURST {
            tracing::warn!(
                platform = platform.as_str(),
                reason = refusal.reason(),
                "refused a command request"
            );
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

const PLATFORMS: [Platform; 2] = [Platform::Slack, Platform::Mattermost];

fn refusal_labels(platform: Platform, refusal: Refusal) -> RefusalLabels {
    RefusalLabels {
        platform: platform.as_str(),
        reason: refusal.metric(),
    }
}

impl Metrics {
    /// Every family of the app's own, registered; the watcher's and the audit writer's
    /// are added with [`Metrics::register_watcher`] and [`Metrics::register_audit`].
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix(PREFIX);
        let metrics = Metrics {
            refusals: Family::default(),
            ssl_checks: Counter::default(),
            commands: Counter::default(),
            decisions: Family::default(),
            denied: Counter::default(),
            invalid: Counter::default(),
            duplicates: Counter::default(),
            deferred: Counter::default(),
            followups_sent: Counter::default(),
            followups_failed: Counter::default(),
            clicks: Counter::default(),
            clicks_refused: Counter::default(),
            http_requests: Family::default(),
            http_durations: Family::new_with_constructor(http_histogram),
            upstream: UpstreamMetrics::default(),
            store_durations: operation_durations(),
            outbox_retries: Counter::default(),
            jobs_held: Gauge::default(),
            jobs_followed: Gauge::default(),
            watcher_leader: Gauge::default(),
            refusal_log: RefusalLog::default(),
            route_durations: Default::default(),
            refusal_counters: Default::default(),
            registry: Registry::default(),
        };
        // Every refusal exists from the start, at 0, as it always did.
        for platform in PLATFORMS {
            for refusal in Refusal::ALL {
                drop(
                    metrics
                        .refusals
                        .get_or_create(&refusal_labels(platform, refusal)),
                );
            }
        }
        // Counters are registered without `_total`: the encoder adds it.
        let r = &mut registry;
        r.register(
            "refused",
            "Requests refused before any work, by reason",
            metrics.refusals.clone(),
        );
        for (name, help, counter) in [
            (
                "ssl_checks",
                "Slack certificate checks answered",
                &metrics.ssl_checks,
            ),
            ("commands", "Verified commands received", &metrics.commands),
            (
                "denied",
                "Commands denied by role or channel",
                &metrics.denied,
            ),
            ("invalid", "Commands that did not parse", &metrics.invalid),
            (
                "duplicates",
                "Re-delivered requests answered without running again",
                &metrics.duplicates,
            ),
            (
                "deferred",
                "Replies sent later through response_url",
                &metrics.deferred,
            ),
            (
                "followups_sent",
                "Follow-up messages delivered",
                &metrics.followups_sent,
            ),
            (
                "followups_failed",
                "Follow-up messages that could not be delivered",
                &metrics.followups_failed,
            ),
            ("clicks", "Verified button clicks handled", &metrics.clicks),
            (
                "clicks_refused",
                "Button clicks refused (not the requester, used, expired, changed, forged)",
                &metrics.clicks_refused,
            ),
            (
                "outbox_retries",
                "Chat posts and follow-ups attempted again after a failure that may pass",
                &metrics.outbox_retries,
            ),
        ] {
            r.register(name, help, counter.clone());
        }
        r.register(
            "command_decisions",
            "Verified commands by command and decision (allowed, denied, invalid, duplicate)",
            metrics.decisions.clone(),
        );
        r.register(
            "http_requests",
            "HTTP requests by route (as matched, or unmatched), method and status",
            metrics.http_requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route",
            metrics.http_durations.clone(),
        );
        r.register(
            "upstream_requests",
            "Calls of the User Sync API by instance, endpoint and status (HTTP status, timeout or error)",
            metrics.upstream.requests.clone(),
        );
        r.register(
            "upstream_request_duration_seconds",
            "Time of a call of the User Sync API, by instance and endpoint",
            metrics.upstream.durations.clone(),
        );
        r.register(
            "store_operation_duration_seconds",
            "Time of a store operation, by operation",
            metrics.store_durations.clone(),
        );
        for (name, help, gauge) in [
            (
                "jobs_held",
                "Jobs this replica holds the lease of and follows or delivers",
                &metrics.jobs_held,
            ),
            (
                "jobs_followed",
                "Jobs this replica follows now",
                &metrics.jobs_followed,
            ),
            (
                "watcher_leader",
                "1 while this replica runs the watcher",
                &metrics.watcher_leader,
            ),
        ] {
            r.register(name, help, gauge.clone());
        }
        let build: Family<BuildLabels, Gauge> = Family::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        r.register("build_info", "The running build: 1, by version", build);
        Metrics {
            registry,
            ..metrics
        }
    }

    /// Adds the watcher's counters.
    pub fn register_watcher(&mut self, notify: &NotifyMetrics) {
        let r = &mut self.registry;
        r.register(
            "notifications_posted",
            "Notifications of finished syncs posted",
            notify.posted.clone(),
        );
        r.register(
            "notifications_failed",
            "Notification posts that failed",
            notify.failed.clone(),
        );
    }

    /// Adds the audit writer's counters and backlog.
    pub fn register_audit(&mut self, audit: &AuditStats) {
        let r = &mut self.registry;
        r.register(
            "audit_rows_written",
            "Audit rows committed to the store",
            audit.written.clone(),
        );
        r.register(
            "audit_write_failures",
            "Audit batches the store refused (each is written again)",
            audit.write_failures.clone(),
        );
        r.register(
            "audit_backlog",
            "Audit rows waiting to be written",
            audit.backlog.clone(),
        );
    }

    /// Counts and logs a refusal (never with the secret or the body).
    pub fn refused(&self, platform: Platform, refusal: Refusal) {
        let labels = || refusal_labels(platform, refusal);
        match self.refusal_counters[platform_index(platform)].get(refusal as usize) {
            Some(kept) => kept
                .get_or_init(|| self.refusals.get_or_create(&labels()).clone())
                .inc(),
            None => self.refusals.get_or_create(&labels()).inc(),
        };
        self.refusal_log.log(platform, refusal);
    }

    pub fn refusals(&self, platform: Platform, refusal: Refusal) -> u64 {
        self.refusals
            .get_or_create(&refusal_labels(platform, refusal))
            .get()
    }

    pub fn incr(counter: &Counter) {
        counter.inc();
    }

    /// Counts what became of a command (`None`: the text named no known command).
    pub fn command_decided(&self, kind: Option<CommandKind>, decision: CommandDecision) {
        self.decisions
            .get_or_create(&DecisionLabels {
                command: kind.map_or("unknown", CommandKind::name),
                decision: decision.as_str(),
            })
            .inc();
    }

    /// Counts a re-delivered command answered without running it again: in
    /// `duplicates_total`, and as a `duplicate` decision of the command it names.
    pub fn redelivered(&self, text: &str) {
        self.duplicates.inc();
        let kind = match command::parse(text) {
            Ok(c) => Some(c.kind()),
            Err(e) => e.command,
        };
        self.command_decided(kind, CommandDecision::Duplicate);
    }

    /// Counts an HTTP request answered: `route` is the route it matched (a template such
    /// as `/slack/commands`, never the path asked), `None` when it matched none.
    pub fn http_request(&self, route: Option<&str>, method: &str, status: u16, took: Duration) {
        let kept = route_index(route).and_then(|i| self.route_durations.get(i));
        let route = route_label(route);
        let family = || {
            self.http_durations
                .get_or_create(&RouteLabels {
                    route: route.clone(),
                })
                .clone()
        };
        match kept {
            Some(kept) => kept.get_or_init(family).observe(took.as_secs_f64()),
            None => family().observe(took.as_secs_f64()),
        }
        self.http_requests
            .get_or_create(&HttpLabels {
                route,
                method: method_label(method),
                status,
            })
            .inc();
    }

    /// What this replica holds in the cluster, set before each scrape: the jobs it holds
    /// and follows, and whether it runs the watcher.
    pub fn set_cluster(&self, jobs_held: usize, jobs_followed: usize, watcher_leader: bool) {
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.jobs_held.set(gauge(jobs_held));
        self.jobs_followed.set(gauge(jobs_followed));
        self.watcher_leader.set(i64::from(watcher_leader));
    }

    /// The exposition of every metric in `format`.
    pub fn render(&self, format: Format) -> String {
        let mut open = String::new();
        // Writing into a String cannot fail.
        if let Err(e) = prometheus_client::encoding::text::encode(&mut open, &self.registry) {
            tracing::error!(error = %e, "cannot encode the metrics");
        }
        match format {
            Format::OpenMetrics => open,
            Format::Text => text_format(&open),
        }
    }
}

/// The Prometheus text format 0.0.4 of an OpenMetrics exposition: a counter's family is
/// named with its `_total` (as its samples are), no `# UNIT` and no `# EOF`.
fn text_format(open: &str) -> String {
    let counters: HashSet<&str> = open
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(open.len() + 16 * counters.len());
    for line in open.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].into_iter().find_map(|tag| {
            let (name, rest) = line.strip_prefix(tag)?.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{tag}{name}_total {rest}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bots_routes_are_labelled_without_a_copy_and_others_as_they_are() {
        assert!(matches!(
            route_label(Some("/slack/commands")),
            Cow::Borrowed("/slack/commands")
        ));
        assert!(matches!(route_label(None), Cow::Borrowed(UNMATCHED)));
        let other = route_label(Some("/other/{id}"));
        assert!(matches!(&other, Cow::Owned(o) if o == "/other/{id}"));
        let metrics = Metrics::new();
        metrics.http_request(
            Some("/slack/commands"),
            "POST",
            200,
            Duration::from_millis(1),
        );
        metrics.http_request(Some("/other/{id}"), "GET", 404, Duration::from_millis(1));
        let text = metrics.render(Format::Text);
        assert!(
            text.contains(
                r#"http_requests_total{route="/slack/commands",method="POST",status="200"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"http_requests_total{route="/other/{id}",method="GET",status="404"} 1"#
            ),
            "{text}"
        );
    }

    #[test]
    fn the_text_format_names_counter_families_with_total_and_has_no_eof() {
        let metrics = Metrics::new();
        metrics.commands.inc();
        let text = metrics.render(Format::Text);
        assert!(
            text.contains(
                "# HELP usersync_bot_commands_total Verified commands received.\n\
                 # TYPE usersync_bot_commands_total counter\n\
                 usersync_bot_commands_total 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("# TYPE usersync_bot_jobs_held gauge\nusersync_bot_jobs_held 0\n"),
            "{text}"
        );
        assert!(!text.contains("# EOF"), "{text}");
        let open = metrics.render(Format::OpenMetrics);
        assert!(open.ends_with("# EOF\n"), "{open}");
        assert!(
            open.contains("# TYPE usersync_bot_commands counter\nusersync_bot_commands_total 1\n"),
            "{open}"
        );
    }

    #[test]
    fn every_refusal_is_there_at_zero_from_the_start() {
        let text = Metrics::new().render(Format::Text);
        for platform in PLATFORMS {
            for refusal in Refusal::ALL {
                let line = format!(
                    "usersync_bot_refused_total{{platform=\"{}\",reason=\"{}\"}} 0\n",
                    platform.as_str(),
                    refusal.metric()
                );
                assert!(text.contains(&line), "{line} in {text}");
            }
        }
    }

    #[test]
    fn the_format_is_openmetrics_only_when_asked_for() {
        assert_eq!(Format::from_accept(None), Format::Text);
        assert_eq!(Format::from_accept(Some("text/plain")), Format::Text);
        assert_eq!(
            Format::from_accept(Some(
                "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
            )),
            Format::OpenMetrics
        );
    }

    #[test]
    fn http_labels_stay_bounded() {
        let metrics = Metrics::new();
        metrics.http_request(None, "BREW", 404, Duration::from_millis(1));
        let text = metrics.render(Format::Text);
        assert!(
            text.contains(
                "usersync_bot_http_requests_total{route=\"unmatched\",method=\"other\",status=\"404\"} 1\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_redelivery_counts_as_a_duplicate_of_the_command_it_names() {
        let metrics = Metrics::new();
        metrics.redelivered("run okta");
        metrics.redelivered("frobnicate");
        let text = metrics.render(Format::Text);
        for line in [
            "usersync_bot_duplicates_total 2\n",
            "usersync_bot_command_decisions_total{command=\"run\",decision=\"duplicate\"} 1\n",
            "usersync_bot_command_decisions_total{command=\"unknown\",decision=\"duplicate\"} 1\n",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }
}
