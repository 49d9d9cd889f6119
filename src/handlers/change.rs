//! Changing a connector (`set`, `patch`): propose — fetch the connector, apply the patch
//! locally, refuse what must not be sent, store a pending operation and show its diff with
//! confirm/cancel buttons — and, on the requester's confirmed click, send it, read the
//! connector back and record it as a revision made by the requester (`history`).
//!
//! The click's checks that need no product (token, requester, single use, expiry, role)
//! are in `dispatch::click`; what needs the product (the state the prompt was shown
//! against) is here.

use chrono::Utc;
use serde_json::Value;

use super::resolve;
use crate::app::App;
use crate::authz::Authorized;
use crate::domain::{Invocation, Platform, Principal};
use crate::message::{ButtonAction, Message};
use crate::reply::change::{Applied, ChangeRefusal, ClickRefusal, Prompt};
use crate::reply::error::StoreAction;
use crate::reply::{self, CommandError, Outcome, Reply};
use crate::revisions::ChangedBy;
use crate::store::{PendingRecord, PendingState};
use crate::usersync::settings::{self, FieldChange, FieldPath};
use crate::usersync::{Connector, UserSyncClient};

/// Fields the product sets itself: a patch that touches them is refused.
const PRODUCT_OWNED: &[&str] = &["uniqueId", "directoryId"];
/// How many of a connector's settings a refusal for an unknown field lists.
const KNOWN_SHOWN: usize = 12;

/// A patch, in one of the two formats the product accepts.
#[derive(Debug, Clone, PartialEq)]
pub enum Patch {
    /// RFC 7386.
    Merge(Value),
    /// RFC 6902, checked to be a list of operations.
    Json(Value),
}

impl Patch {
    fn format(&self) -> &'static str {
        match self {
            Patch::Merge(_) => "JSON Merge Patch",
            Patch::Json(_) => "JSON Patch",
        }
    }

    /// What is stored in the pending operation, and read back on confirm.
    fn to_operation(&self) -> Value {
        match self {
            Patch::Merge(p) => serde_json::json!({"format": "merge", "patch": p}),
            Patch::Json(p) => serde_json::json!({"format": "json-patch", "patch": p}),
        }
    }

    fn from_operation(op: &Value) -> Option<Patch> {
        let patch = op.get("patch")?.clone();
        match op.get("format")?.as_str()? {
            "merge" => Some(Patch::Merge(patch)),
            "json-patch" => Some(Patch::Json(patch)),
            _ => None,
        }
    }

    /// The document after the patch, applied here as the product would.
    fn apply(&self, doc: &Value) -> Result<Value, String> {
        let mut out = doc.clone();
        match self {
            Patch::Merge(p) => json_patch::merge(&mut out, p),
            Patch::Json(p) => {
                let ops: json_patch::Patch =
                    serde_json::from_value(p.clone()).map_err(|e| e.to_string())?;
                json_patch::patch(&mut out, &ops).map_err(|e| e.to_string())?;
            }
        }
        Ok(out)
    }

    /// The fields the patch names, whether or not they change.
    fn touched(&self) -> Vec<FieldPath> {
        match self {
            Patch::Merge(p) => settings::leaves(p).into_keys().collect(),
            Patch::Json(p) => p
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|op| ["path", "from"].map(|k| op.get(k).and_then(Value::as_str)))
                .flatten()
                .map(pointer_path)
                .collect(),
        }
    }
}

/// A JSON Pointer's keys (`/sync/pageSize` → `sync`, `pageSize`), unescaped.
fn pointer_path(pointer: &str) -> FieldPath {
    pointer
        .split('/')
        .skip(1)
        .map(|k| k.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// The connector as a settings document.
fn document(c: &Connector) -> Value {
    serde_json::to_value(c).unwrap_or(Value::Null)
}

/// What must not be sent, whatever the person's role: secrets, product-owned fields,
/// fields the connector lacks, and changes that change nothing.
fn check(
    patch: &Patch,
    before: &Value,
    after: &Value,
    instance: &str,
    new_fields_allowed: bool,
) -> Result<Vec<FieldChange>, ChangeRefusal> {
    let changes = settings::diff(before, after);
    let touched = patch.touched();
    let paths = || touched.iter().chain(changes.iter().map(|c| &c.path));
    let mut secret: Vec<String> = paths()
        .filter(|p| settings::is_secret_path(p))
        .map(|p| settings::dotted(p))
        .collect();
    secret.dedup();
    if !secret.is_empty() {
        return Err(ChangeRefusal::Secret {
            fields: secret,
            instance: instance.to_string(),
        });
    }
    let mut owned: Vec<String> = paths()
        .filter(|p| {
            p.first()
                .is_some_and(|k| PRODUCT_OWNED.contains(&k.as_str()))
        })
        .map(|p| settings::dotted(p))
        .collect();
    owned.dedup();
    if !owned.is_empty() {
        return Err(ChangeRefusal::ProductOwned { fields: owned });
    }
    let unknown: Vec<String> = changes
        .iter()
        .filter(|c| {
            !new_fields_allowed && c.before.is_none() && !settings::has_path(before, &c.path)
        })
        .map(FieldChange::field)
        .collect();
    if !unknown.is_empty() {
        let known = settings::leaves(before)
            .into_keys()
            .filter(|p| !settings::is_secret_path(p))
            .filter(|p| {
                !p.first()
                    .is_some_and(|k| PRODUCT_OWNED.contains(&k.as_str()))
            })
            .map(|p| settings::dotted(&p))
            .take(KNOWN_SHOWN)
            .collect();
        return Err(ChangeRefusal::Unknown {
            fields: unknown,
            known,
        });
    }
    if changes.is_empty() {
        return Err(ChangeRefusal::NoChange);
    }
    Ok(changes)
}

fn refused(connector: &Connector, refusal: ChangeRefusal) -> CommandError {
    CommandError::ChangeRefused {
        connector: connector.display_name().to_string(),
        refusal,
    }
}

/// `set` and `patch`: the prompt, or why there is none. Nothing is sent to the product.
pub async fn propose(
    app: &App,
    inv: &Invocation,
    wanted: &str,
    patch: Patch,
) -> Result<Reply, CommandError> {
    let (client, connector) = fetch(app, wanted).await?;
    propose_on(app, inv, &client, &connector, patch, None).await
}

/// The connector a person means, with its full settings as the product keeps them (a
/// listing may be shorter).
async fn fetch(app: &App, wanted: &str) -> Result<(UserSyncClient, Connector), CommandError> {
    let found = resolve::connector(app, wanted).await?;
    let connector = found
        .client
        .get_connector(&found.connector.unique_id)
        .await
        .map_err(|e| CommandError::upstream("Cannot read the connector", e))?;
    Ok((found.client, connector))
}

/// `rollback <connector> <revision>`: the merge patch that restores the revision's
/// non-secret settings, proposed like `set`. Fields the product owns stay as they are.
pub async fn rollback(
    app: &App,
    inv: &Invocation,
    wanted: &str,
    seq: u64,
) -> Result<Reply, CommandError> {
    let (client, connector) = fetch(app, wanted).await?;
    let revision = app
        .store
        .revision(client.instance(), &connector.unique_id, seq)
        .await
        .map_err(|e| CommandError::store(StoreAction::ReadHistory, e))?
        .ok_or_else(|| CommandError::NoSuchRevision {
            connector: connector.display_name().to_string(),
            seq,
        })?;
    let mut patch = settings::merge_patch_restoring(&document(&connector), &revision.settings);
    if let Some(map) = patch.as_object_mut() {
        for owned in PRODUCT_OWNED {
            map.remove(*owned);
        }
    }
    propose_on(
        app,
        inv,
        &client,
        &connector,
        Patch::Merge(patch),
        Some(seq),
    )
    .await
}

/// The prompt for a patch of this connector, or why there is none.
async fn propose_on(
    app: &App,
    inv: &Invocation,
    client: &UserSyncClient,
    connector: &Connector,
    patch: Patch,
    rollback_to: Option<u64>,
) -> Result<Reply, CommandError> {
    let before = document(connector);
    let after = patch
        .apply(&before)
        .map_err(|why| refused(connector, ChangeRefusal::DoesNotApply(why)))?;
    // A rollback may bring back a field removed since; a change may not invent one.
    let changes = check(
        &patch,
        &before,
        &after,
        client.instance(),
        rollback_to.is_some(),
    )
    .map_err(|r| refused(connector, r))?;
    let callback_url = match inv.platform {
        Platform::Slack => None,
        Platform::Mattermost => match &app.config.public_url {
            Some(base) => Some(format!("{base}/mattermost/actions")),
            None => return Err(refused(connector, ChangeRefusal::NoCallbackUrl)),
        },
    };
    let ttl = app.config.confirm.ttl;
    let pending = super::pending::create(
        app,
        inv,
        super::pending::Operation {
            id: uuid::Uuid::new_v4().simple().to_string(),
            instance: client.instance(),
            connector_id: &connector.unique_id,
            connector_name: connector.display_name(),
            operation: patch.to_operation(),
            fingerprint: settings::state_fingerprint(&before, &app.key),
        },
    )
    .await?;
    let requester = reply::who(inv.user_name.as_deref(), &inv.user);
    let message = reply::change::prompt(Prompt {
        instance: client.instance(),
        connector: connector.display_name(),
        connector_id: &connector.unique_id,
        requester: &requester,
        changes: &changes,
        format: patch.format(),
        rollback_to,
        ttl,
        confirm_token: app
            .key
            .button_token(&pending.id, ButtonAction::Confirm.as_str()),
        cancel_token: app
            .key
            .button_token(&pending.id, ButtonAction::Cancel.as_str()),
        callback_url,
    });
    Ok(Reply::with(
        message,
        Outcome::Proposed {
            pending: pending.id,
        },
    ))
}

/// What a confirmed click led to.
pub type Confirmed = Result<(Message, Outcome), ClickRefusal>;

/// The requester confirmed, and may still run the command (`_auth`, checked again at
/// click time): check the connector is as shown, use the confirmation up, send the
/// patch, read the connector back.
pub async fn confirm(
    app: &App,
    _auth: &Authorized,
    pending: &PendingRecord,
    by: &str,
) -> Confirmed {
    let unavailable = |what: &str| ClickRefusal::Unavailable(what.to_string());
    let client = app
        .instance(Some(&pending.instance))
        .map_err(|_| unavailable("The connector's instance is no longer configured."))?;
    let Some(patch) = Patch::from_operation(&pending.operation) else {
        return Err(ClickRefusal::Unknown);
    };
    let current = client
        .get_connector(&pending.connector_id)
        .await
        .map_err(|e| ClickRefusal::Unavailable(reply::error::upstream_text(&e)))?;
    let before = document(&current);
    let now = Utc::now();
    if settings::state_fingerprint(&before, &app.key) != pending.fingerprint {
        // Settled as stale so that a later click says so too.
        let _ = app
            .store
            .settle_pending(&pending.id, PendingState::Stale, by, app.owner(), now)
            .await;
        return Err(ClickRefusal::Changed {
            connector: pending.connector_name.clone(),
        });
    }
    super::pending::use_up(app, pending, by).await?;
    // What the bot saw before the change, so that the revision the change makes holds
    // only the requester's change (one made outside the bot since is recorded as such).
    super::history::record_shown(app, &pending.instance, &current).await;
    let name = pending.connector_name.as_str();
    let expected = patch.apply(&before).unwrap_or_else(|_| before.clone());
    if let Err(e) = send(client, &pending.connector_id, &patch).await {
        tracing::warn!(error = ?e, "a confirmed change was refused by the product");
        let message = reply::change::failed(name, &reply::error::upstream_text(&e));
        return Ok((
            message,
            Outcome::ClickRefused("error: the product refused the change".into()),
        ));
    }
    // Made: a later click on this prompt says so, whatever the connector shows then.
    if let Err(e) = app.store.pending_made(&pending.id).await {
        tracing::warn!(error = %e, "cannot record a confirmed change as made");
    }
    let read_back = match client.get_connector(&pending.connector_id).await {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(error = ?e, "a changed connector could not be read back");
            None
        }
    };
    let after = read_back
        .as_ref()
        .map_or_else(|| expected.clone(), document);
    let revision = record_change(app, pending, read_back, &after).await;
    let (changed, more, less) = compare(&before, &expected, &after);
    let fields = changed.len();
    let message = reply::change::applied(Applied {
        instance: &pending.instance,
        connector: name,
        by,
        changed: &changed,
        more,
        less,
        revision,
    });
    Ok((message, Outcome::Changed { fields }))
}

/// A confirmed change with no result recorded (not [`PendingState::Made`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotMade {
    /// The connector is still as the prompt showed it, and the click that confirmed it is
    /// no longer at work: the bot stopped before the patch.
    CutOff,
    /// The connector is still as the prompt showed it, and the change may still be at work
    /// (on another replica), or have been cut off: not known yet.
    NotYet,
    /// The connector changed since the prompt: by this change, being made (`underway`) or
    /// cut off before its result was recorded, or by someone else.
    Unrecorded { underway: bool },
}

/// What became of a confirmed connector change with no result recorded, as the product
/// and the store tell it; `None` when it is not such a change, or the product cannot be
/// asked.
pub async fn not_made(app: &App, pending: &PendingRecord) -> Option<NotMade> {
    if pending.state != PendingState::Confirmed
        || Patch::from_operation(&pending.operation).is_none()
    {
        return None;
    }
    let client = app.instance(Some(&pending.instance)).ok()?;
    let current = client.get_connector(&pending.connector_id).await.ok()?;
    let as_shown =
        settings::state_fingerprint(&document(&current), &app.key) == pending.fingerprint;
    let may_run = match pending.settled_at {
        Some(at) => {
            app.may_still_run(at, pending.settled_replica.as_deref())
                .await
        }
        None => true,
    };
    Some(match (as_shown, may_run) {
        (true, false) => NotMade::CutOff,
        (true, true) => NotMade::NotYet,
        (false, underway) => NotMade::Unrecorded { underway },
    })
}

/// Records the connector as changed by the requester (the only one who can confirm); the
/// revision's number when one was added. When it could not be read back, it is recorded as
/// the patch should have left it: a difference the product made is then found at the next
/// sighting.
async fn record_change(
    app: &App,
    pending: &PendingRecord,
    read_back: Option<Connector>,
    after: &Value,
) -> Option<i64> {
    let connector = read_back.or_else(|| serde_json::from_value(after.clone()).ok())?;
    let by = ChangedBy {
        principal: Principal::new(pending.platform, pending.user_id.clone()),
        name: pending.user_name.clone(),
    };
    match super::history::record_seen(app, &pending.instance, &connector, Some(by)).await {
        Ok(added) => added.map(|r| r.seq as i64),
        Err(e) => {
            tracing::error!(error = %e, "cannot record a confirmed change as a revision");
            None
        }
    }
}

/// What the product changed (`before` → `after`), the fields it changed that were not
/// asked for, and the fields asked for that it did not change as asked (`expected`).
fn compare(
    before: &Value,
    expected: &Value,
    after: &Value,
) -> (Vec<FieldChange>, Vec<String>, Vec<String>) {
    let changed = settings::diff(before, after);
    let asked = settings::diff(before, expected);
    let more = changed
        .iter()
        .filter(|c| !asked.iter().any(|a| a.path == c.path))
        .map(FieldChange::field)
        .collect();
    let less = asked
        .iter()
        .filter(|a| !changed.contains(a))
        .map(FieldChange::field)
        .collect();
    (changed, more, less)
}

async fn send(
    client: &UserSyncClient,
    connector_id: &str,
    patch: &Patch,
) -> Result<(), crate::usersync::UserSyncError> {
    match patch {
        Patch::Merge(p) => client
            .merge_patch_connector(connector_id, p)
            .await
            .map(drop),
        Patch::Json(p) => {
            let ops: json_patch::Patch = serde_json::from_value(p.clone()).map_err(|e| {
                crate::usersync::UserSyncError::BadAnswer {
                    instance: client.instance().to_string(),
                    expected: "a JSON Patch",
                    detail: e.to_string(),
                }
            })?;
            client
                .json_patch_connector(connector_id, &ops)
                .await
                .map(drop)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn okta() -> Value {
        json!({
            "uniqueId": "okta-1",
            "name": "Okta",
            "directoryId": "10001",
            "apiToken": "s3cret",
            "sync": {"pageSize": 100, "enabled": true},
        })
    }

    fn checked(patch: Patch) -> Result<Vec<String>, ChangeRefusal> {
        let before = okta();
        let after = patch.apply(&before).map_err(ChangeRefusal::DoesNotApply)?;
        check(&patch, &before, &after, "jira", false)
            .map(|c| c.iter().map(FieldChange::field).collect())
    }

    #[test]
    fn one_line_table_of_what_may_be_sent() {
        let merge = |v: Value| Patch::Merge(v);
        let jp = |v: Value| Patch::Json(v);
        let secret = |f: &str| ChangeRefusal::Secret {
            fields: vec![f.into()],
            instance: "jira".into(),
        };
        let cases: Vec<(Patch, Result<Vec<String>, ChangeRefusal>)> = vec![
            (
                merge(json!({"sync": {"pageSize": 500}})),
                Ok(vec!["sync.pageSize".into()]),
            ),
            (
                merge(json!({"name": "Okta 2", "sync": {"enabled": false}})),
                Ok(vec!["name".into(), "sync.enabled".into()]),
            ),
            (
                jp(json!([{"op": "replace", "path": "/sync/pageSize", "value": 5}])),
                Ok(vec!["sync.pageSize".into()]),
            ),
            (merge(json!({"apiToken": "new"})), Err(secret("apiToken"))),
            // Setting a secret to what it is still names it: the message would keep it.
            (
                merge(json!({"apiToken": "s3cret"})),
                Err(secret("apiToken")),
            ),
            (
                jp(json!([{"op": "remove", "path": "/apiToken"}])),
                Err(secret("apiToken")),
            ),
            (
                merge(json!({"sync": {"clientSecret": "x"}})),
                Err(secret("sync.clientSecret")),
            ),
            (
                merge(json!({"uniqueId": "other"})),
                Err(ChangeRefusal::ProductOwned {
                    fields: vec!["uniqueId".into()],
                }),
            ),
            (
                merge(json!({"sync": {"pageSize": 100}})),
                Err(ChangeRefusal::NoChange),
            ),
            (
                jp(json!([{"op": "test", "path": "/name", "value": "Okta"}])),
                Err(ChangeRefusal::NoChange),
            ),
        ];
        for (patch, expected) in cases {
            assert_eq!(checked(patch.clone()), expected, "{patch:?}");
        }
    }

    #[test]
    fn unknown_fields_and_patches_that_do_not_apply_are_refused_with_the_reason() {
        match checked(Patch::Merge(json!({"sync": {"pagesize": 5}}))) {
            Err(ChangeRefusal::Unknown { fields, known }) => {
                assert_eq!(fields, vec!["sync.pagesize"]);
                assert!(known.contains(&"sync.pageSize".to_string()), "{known:?}");
                assert!(
                    !known.iter().any(|k| k == "apiToken" || k == "uniqueId"),
                    "{known:?}"
                );
            }
            other => panic!("{other:?}"),
        }
        let r = checked(Patch::Json(
            json!([{"op": "replace", "path": "/nope/x", "value": 1}]),
        ));
        assert!(matches!(r, Err(ChangeRefusal::DoesNotApply(_))), "{r:?}");
        let r = checked(Patch::Json(
            json!([{"op": "test", "path": "/name", "value": "Other"}]),
        ));
        assert!(matches!(r, Err(ChangeRefusal::DoesNotApply(_))), "{r:?}");
    }

    #[test]
    fn what_the_product_did_is_compared_with_what_was_asked() {
        let before = json!({"a": 1, "b": 1, "directoryId": 1});
        let expected = json!({"a": 2, "b": 2, "directoryId": 1});
        let fields = |(changed, more, less): (Vec<FieldChange>, Vec<String>, Vec<String>)| {
            let changed: Vec<String> = changed.iter().map(FieldChange::field).collect();
            (changed, more, less)
        };
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            fields(compare(&before, &expected, &expected)),
            (s(&["a", "b"]), vec![], vec![])
        );
        assert_eq!(
            fields(compare(
                &before,
                &expected,
                &json!({"a": 2, "b": 2, "directoryId": 7})
            )),
            (s(&["a", "b", "directoryId"]), s(&["directoryId"]), vec![])
        );
        assert_eq!(
            fields(compare(
                &before,
                &expected,
                &json!({"a": 2, "b": 3, "directoryId": 1})
            )),
            (s(&["a", "b"]), vec![], s(&["b"]))
        );
        assert_eq!(
            fields(compare(&before, &expected, &before)),
            (vec![], vec![], s(&["a", "b"]))
        );
    }

    #[test]
    fn an_operation_round_trips_through_what_is_stored() {
        for p in [
            Patch::Merge(json!({"a": 1})),
            Patch::Json(json!([{"op": "remove", "path": "/a"}])),
        ] {
            assert_eq!(Patch::from_operation(&p.to_operation()), Some(p));
        }
        assert_eq!(
            Patch::from_operation(&json!({"format": "xml", "patch": 1})),
            None
        );
        assert_eq!(pointer_path("/a~1b/c~0d"), vec!["a/b", "c~d"]);
    }
}
