//! Finding the connector a person means: by unique id, by name (case-insensitive, with
//! spaces and dashes ignored; a unique prefix or part is enough), or `instance/name`.

use crate::app::App;
use crate::message::{Block, Message, Text, Tone};
use crate::usersync::{Connector, UserSyncClient, UserSyncError};

/// Candidates listed when a name is unknown or ambiguous.
const MAX_CANDIDATES: usize = 20;

/// A connector found, with the client of its instance.
#[derive(Debug, Clone)]
pub struct Found {
    pub client: UserSyncClient,
    pub connector: Connector,
}

fn normalise(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Finds one connector, or explains in a message why not.
pub async fn connector(app: &App, wanted: &str) -> Result<Found, Message> {
    let (scope, name): (Vec<&UserSyncClient>, &str) = match wanted.split_once('/') {
        Some((instance, rest)) if app.instance(Some(instance)).is_ok() => {
            (vec![app.instance(Some(instance)).map_err(refusal)?], rest)
        }
        _ => (app.instances.iter().collect(), wanted),
    };
    let mut set = tokio::task::JoinSet::new();
    for (i, client) in scope.iter().enumerate() {
        let client = (*client).clone();
        set.spawn(async move { (i, client.list_connectors().await) });
    }
    let mut listed: Vec<(usize, Vec<Connector>)> = Vec::new();
    let mut errors: Vec<UserSyncError> = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((i, Ok(list))) => listed.push((i, list)),
            Ok((_, Err(e))) => errors.push(e),
            Err(e) => tracing::error!(error = %e, "connector listing task failed"),
        }
    }
    listed.sort_by_key(|(i, _)| *i);
    let scope = &scope;
    let all: Vec<(&UserSyncClient, &Connector)> = listed
        .iter()
        .flat_map(|(i, list)| list.iter().map(move |c| (scope[*i], c)))
        .collect();

    let norm = normalise(name);
    let tiers: [&dyn Fn(&Connector) -> bool; 5] = [
        &|c| c.unique_id == name,
        &|c| {
            c.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        },
        &|c| !norm.is_empty() && normalise(c.display_name()) == norm,
        &|c| !norm.is_empty() && normalise(c.display_name()).starts_with(&norm),
        &|c| !norm.is_empty() && normalise(c.display_name()).contains(&norm),
    ];
    for tier in tiers {
        let hits: Vec<_> = all.iter().filter(|(_, c)| tier(c)).collect();
        match hits.len() {
            0 => continue,
            1 => {
                let (client, c) = hits[0];
                return Ok(Found {
                    client: (*client).clone(),
                    connector: (*c).clone(),
                });
            }
            _ => {
                return Err(candidates(
                    app,
                    Message::new(
                        Tone::Warning,
                        format!("{name:?} matches several connectors"),
                    )
                    .text("Say which one: by its full name, its id, or instance/name."),
                    hits.into_iter().copied().collect(),
                ))
            }
        }
    }
    if all.is_empty() {
        if let Some(e) = errors.first() {
            return Err(crate::handlers::present::error_message(
                "Cannot list connectors",
                e,
            ));
        }
    }
    let mut message = Message::new(Tone::Warning, format!("No connector is called {name:?}"));
    for e in &errors {
        message = message.text(Text::new().plain(format!("(Not searched: {e})")));
    }
    Err(candidates(app, message.text("Connectors:"), all))
}

fn refusal(text: String) -> Message {
    Message::new(Tone::Warning, "Unknown instance").text(text)
}

fn candidates(app: &App, message: Message, list: Vec<(&UserSyncClient, &Connector)>) -> Message {
    let several = app.instances.len() > 1;
    let items: Vec<Text> = list
        .iter()
        .take(MAX_CANDIDATES)
        .map(|(client, c)| {
            let name = if several {
                format!("{}/{}", client.instance(), c.display_name())
            } else {
                c.display_name().to_string()
            };
            Text::new().code(name).plain(" — id ").code(&c.unique_id)
        })
        .collect();
    if items.is_empty() {
        return message.text("(none)");
    }
    message.push(Block::List {
        items,
        more: list.len().saturating_sub(MAX_CANDIDATES),
    })
}
