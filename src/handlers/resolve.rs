//! Finding the connector a person means: by unique id, by name (case-insensitive, with
//! spaces and dashes ignored; a unique prefix or part is enough), or `instance/name`.

use crate::app::App;
use crate::reply::error::Candidate;
use crate::reply::CommandError;
use crate::usersync::{Connector, UserSyncClient, UserSyncError};

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

/// Lists the connectors of every instance in scope, at once, keeping configuration order.
async fn list_all(
    scope: &[&UserSyncClient],
) -> (Vec<(UserSyncClient, Connector)>, Vec<UserSyncError>) {
    let mut set = tokio::task::JoinSet::new();
    for (i, client) in scope.iter().enumerate() {
        let client = (*client).clone();
        set.spawn(async move { (i, client.list_connectors().await, client) });
    }
    let mut listed: Vec<(usize, UserSyncClient, Vec<Connector>)> = Vec::new();
    let mut errors = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((i, Ok(list), client)) => listed.push((i, client, list)),
            Ok((_, Err(e), _)) => errors.push(e),
            Err(e) => tracing::error!(error = %e, "connector listing task failed"),
        }
    }
    listed.sort_by_key(|(i, _, _)| *i);
    let all = listed
        .into_iter()
        .flat_map(|(_, client, list)| list.into_iter().map(move |c| (client.clone(), c)))
        .collect();
    (all, errors)
}

/// The connector that fills directory `id`, on any instance.
pub async fn by_directory(app: &App, id: &str) -> Result<Found, CommandError> {
    let scope: Vec<&UserSyncClient> = app.instances.iter().collect();
    let (all, unsearched) = list_all(&scope).await;
    let hit = all
        .into_iter()
        .find(|(_, c)| c.directory_id().as_deref() == Some(id));
    match hit {
        Some((client, connector)) => Ok(Found { client, connector }),
        None => match unsearched.into_iter().next() {
            Some(e) => Err(CommandError::upstream("Cannot list connectors", e)),
            None => Err(CommandError::NoSuchDirectory { id: id.to_string() }),
        },
    }
}

/// Finds one connector, or says why not (unknown, ambiguous, instances unreachable).
pub async fn connector(app: &App, wanted: &str) -> Result<Found, CommandError> {
    let (scope, name): (Vec<&UserSyncClient>, &str) = match wanted.split_once('/') {
        Some((instance, rest)) if app.instance(Some(instance)).is_ok() => {
            (vec![app.instance(Some(instance))?], rest)
        }
        _ => (app.instances.iter().collect(), wanted),
    };
    let (all, unsearched) = list_all(&scope).await;
    let several = app.instances.len() > 1;
    let hits = best_matches(&all, name);
    match hits.as_slice() {
        [(client, connector)] => Ok(Found {
            client: client.clone(),
            connector: connector.clone(),
        }),
        [] => Err(CommandError::NoSuchConnector {
            wanted: name.to_string(),
            candidates: all.iter().map(|h| candidate(h, several)).collect(),
            unsearched,
        }),
        _ => Err(CommandError::AmbiguousConnector {
            wanted: name.to_string(),
            candidates: hits.into_iter().map(|h| candidate(h, several)).collect(),
        }),
    }
}

/// The connectors of the first tier that matches the name at all: its id, its exact
/// name, the name with spaces and dashes ignored, a prefix, then a part of it.
fn best_matches<'a>(
    all: &'a [(UserSyncClient, Connector)],
    name: &str,
) -> Vec<&'a (UserSyncClient, Connector)> {
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
    tiers
        .iter()
        .map(|tier| all.iter().filter(|(_, c)| tier(c)).collect::<Vec<_>>())
        .find(|hits| !hits.is_empty())
        .unwrap_or_default()
}

fn candidate((client, c): &(UserSyncClient, Connector), several: bool) -> Candidate {
    let name = if several {
        format!("{}/{}", client.instance(), c.display_name())
    } else {
        c.display_name().to_string()
    };
    Candidate {
        name,
        id: c.unique_id.clone(),
    }
}
