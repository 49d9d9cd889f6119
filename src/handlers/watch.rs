//! `watch`, `unwatch` and `watches`: which finished syncs a channel hears about.

use chrono::Utc;

use super::{resolve, Handled};
use crate::app::App;
use crate::config::NotifyOn;
use crate::domain::Invocation;
use crate::message::{Block, Message, Text, Tone};
use crate::store::Subscription;

/// The (instance, connector id, connector name) a `watch` argument names.
async fn target(app: &App, wanted: &str) -> Result<(String, String, String), Message> {
    if wanted == "*" {
        return Ok((String::new(), "*".into(), "every connector".into()));
    }
    let found = resolve::connector(app, wanted).await?;
    Ok((
        found.client.instance().to_string(),
        found.connector.unique_id.clone(),
        found.connector.display_name().to_string(),
    ))
}

fn store_failure(e: crate::store::StoreError) -> Handled {
    tracing::error!(error = %e, "cannot change subscriptions");
    Handled::failed(
        Message::new(Tone::Failure, "Not changed")
            .text("The bot's store cannot be written; see its log."),
    )
}

pub async fn watch(
    app: &App,
    inv: &Invocation,
    wanted: &str,
    failures_only: bool,
    max_deleted: Option<u64>,
) -> Handled {
    let (instance, connector, name) = match target(app, wanted).await {
        Ok(t) => t,
        Err(m) => return Handled::failed(m),
    };
    let sub = Subscription {
        id: 0,
        platform: inv.platform,
        channel_id: inv.channel.id.clone(),
        instance,
        connector,
        connector_name: name.clone(),
        failures_only,
        max_deleted,
        created_by: inv.user.to_string(),
        created_at: Utc::now(),
    };
    if let Err(e) = app.store.subscribe(&sub).await {
        return store_failure(e);
    }
    let what = if failures_only {
        "failed syncs"
    } else {
        "every finished sync"
    };
    let mut m = Message::new(
        Tone::Success,
        format!("This channel now hears about {name}"),
    )
    .in_channel()
    .text(
        Text::new()
            .plain(format!("It will see {what} of {name}"))
            .plain(max_deleted.map_or(".".to_string(), |n| {
                format!(", and an alert when a sync deletes more than {n} users.")
            })),
    );
    m = m.context(
        Text::new()
            .plain("Set up by ")
            .code(inv.user.to_string())
            .plain(". Undo with ")
            .code(format!("{} unwatch {wanted}", inv.command)),
    );
    Handled::ok(m)
}

pub async fn unwatch(app: &App, inv: &Invocation, wanted: &str) -> Handled {
    let (instance, connector, name) = match target(app, wanted).await {
        Ok(t) => t,
        Err(m) => return Handled::failed(m),
    };
    match app
        .store
        .unsubscribe(inv.platform, &inv.channel.id, &instance, &connector)
        .await
    {
        Ok(true) => Handled::ok(
            Message::new(
                Tone::Success,
                format!("This channel no longer hears about {name}"),
            )
            .in_channel()
            .context(Text::new().plain("Changed by ").code(inv.user.to_string())),
        ),
        Ok(false) => Handled::ok(
            Message::new(Tone::Info, format!("This channel was not watching {name}")).text(
                Text::new()
                    .plain("See ")
                    .code(format!("{} watches", inv.command))
                    .plain(" for what it hears."),
            ),
        ),
        Err(e) => store_failure(e),
    }
}

pub async fn watches(app: &App, inv: &Invocation) -> Handled {
    let subs = match app.store.subscriptions().await {
        Ok(s) => s,
        Err(e) => return store_failure(e),
    };
    let mine: Vec<Text> = subs
        .iter()
        .filter(|s| s.platform == inv.platform && s.channel_id == inv.channel.id)
        .map(|s| {
            let mut t = Text::new().strong(&s.connector_name);
            if !s.instance.is_empty() && app.instances.len() > 1 {
                t = t.plain(format!(" ({})", s.instance));
            }
            t = t.plain(if s.failures_only {
                " — failures only"
            } else {
                " — every finished sync"
            });
            if let Some(n) = s.max_deleted {
                t = t.plain(format!(", alert above {n} deleted users"));
            }
            t.plain(" — set up by ").code(&s.created_by)
        })
        .collect();
    let routes: Vec<Text> = app
        .config
        .routes
        .iter()
        .filter(|r| r.channel == inv.channel)
        .map(|r| {
            let on: Vec<&str> =
                r.on.iter()
                    .map(|o| match o {
                        NotifyOn::Success => "success",
                        NotifyOn::Failure => "failure",
                        NotifyOn::Threshold => "threshold",
                    })
                    .collect();
            let mut t = Text::new()
                .plain(format!(
                    "{} on ",
                    r.instance.as_deref().unwrap_or("every instance")
                ))
                .code(r.connectors.join(", "))
                .plain(format!(": {}", on.join(", ")));
            if let Some(n) = r.max_deleted {
                t = t.plain(format!(", more than {n} deleted"));
            }
            if let Some(n) = r.max_failed {
                t = t.plain(format!(", more than {n} failed"));
            }
            t
        })
        .collect();
    let total = mine.len() + routes.len();
    let mut m = Message::new(
        Tone::Info,
        format!("This channel hears about {total} kind(s) of finished sync"),
    );
    if mine.is_empty() && routes.is_empty() {
        m = m.text(
            Text::new()
                .plain("Nothing is announced here. Start with ")
                .code(format!("{} watch <connector|*>", inv.command)),
        );
        return Handled::ok(m);
    }
    if !mine.is_empty() {
        m = m.text(Text::new().strong("Asked for from chat"));
        m = m.push(Block::List {
            items: mine,
            more: 0,
        });
    }
    if !routes.is_empty() {
        m = m.text(Text::new().strong("From the bot's configuration"));
        m = m.push(Block::List {
            items: routes,
            more: 0,
        });
    }
    Handled::ok(m)
}
