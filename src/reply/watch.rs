//! What `watch`, `unwatch` and `watches` say: which finished syncs a channel hears about.

use crate::config::NotifyRoute;
use crate::domain::Invocation;
use crate::message::{Block, Message, Text, Tone};
use crate::store::Subscription;

/// `watch`: the channel now hears about a connector (or every connector).
pub fn watching(inv: &Invocation, wanted: &str, sub: &Subscription) -> Message {
    let name = &sub.connector_name;
    let what = if sub.failures_only {
        "failed syncs"
    } else {
        "every finished sync"
    };
    Message::new(
        Tone::Success,
        format!("This channel now hears about {name}"),
    )
    .in_channel()
    .text(
        Text::new()
            .plain(format!("It will see {what} of {name}"))
            .plain(sub.max_deleted.map_or(".".to_string(), |n| {
                format!(", and an alert when a sync deletes more than {n} users.")
            })),
    )
    .context(
        Text::new()
            .plain("Set up by ")
            .code(inv.user.to_string())
            .plain(". Undo with ")
            .code(format!("{} unwatch {wanted}", inv.command)),
    )
}

/// `unwatch` of a subscription that existed.
pub fn unwatched(inv: &Invocation, name: &str) -> Message {
    Message::new(
        Tone::Success,
        format!("This channel no longer hears about {name}"),
    )
    .in_channel()
    .context(Text::new().plain("Changed by ").code(inv.user.to_string()))
}

/// `unwatch` of something the channel did not watch.
pub fn not_watching(inv: &Invocation, name: &str) -> Message {
    Message::new(Tone::Info, format!("This channel was not watching {name}")).text(
        Text::new()
            .plain("See ")
            .code(format!("{} watches", inv.command))
            .plain(" for what it hears."),
    )
}

fn subscription_line(s: &Subscription, several_instances: bool) -> Text {
    let mut t = Text::new().strong(&s.connector_name);
    if !s.instance.is_empty() && several_instances {
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
}

fn route_line(r: &NotifyRoute) -> Text {
    let on: Vec<&str> = r.on.iter().map(|o| o.as_str()).collect();
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
}

/// `watches`: this channel's subscriptions and the configured routes that post here.
pub fn watches(
    inv: &Invocation,
    subscriptions: &[&Subscription],
    routes: &[&NotifyRoute],
    several_instances: bool,
) -> Message {
    let total = subscriptions.len() + routes.len();
    let mut m = Message::new(
        Tone::Info,
        format!("This channel hears about {total} kind(s) of finished sync"),
    );
    if total == 0 {
        return m.text(
            Text::new()
                .plain("Nothing is announced here. Start with ")
                .code(format!("{} watch <connector|*>", inv.command)),
        );
    }
    if !subscriptions.is_empty() {
        m = m
            .text(Text::new().strong("Asked for from chat"))
            .push(Block::List {
                items: subscriptions
                    .iter()
                    .map(|s| subscription_line(s, several_instances))
                    .collect(),
                more: 0,
            });
    }
    if !routes.is_empty() {
        m = m
            .text(Text::new().strong("From the bot's configuration"))
            .push(Block::List {
                items: routes.iter().map(|r| route_line(r)).collect(),
                more: 0,
            });
    }
    m
}
