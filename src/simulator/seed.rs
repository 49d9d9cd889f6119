//! The connectors and users a fresh simulator starts with.

use serde_json::{json, Map, Value};

/// A user the identity provider of a connector knows.
#[derive(Debug, Clone)]
pub struct SimUser {
    pub user_name: String,
    pub display_name: String,
    pub email: String,
    /// When set, every update of this user fails with this message.
    pub fails_with: Option<String>,
}

/// A connector as the simulator keeps it.
#[derive(Debug, Clone)]
pub struct SimConnector {
    /// The settings exactly as the API shows them (`uniqueId`, `name`, `directoryId`, …).
    pub settings: Map<String, Value>,
    pub directory_exists: bool,
    pub users: Vec<SimUser>,
    /// Set through the admin endpoint: every sync of this connector fails with this message.
    pub fail_with: Option<String>,
    /// Users removed from the identity provider since the last sync: the next sync reports
    /// each of them as DELETED, once.
    pub removed: Vec<SimUser>,
}

impl SimConnector {
    pub fn unique_id(&self) -> &str {
        self.settings
            .get("uniqueId")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    pub fn name(&self) -> &str {
        self.settings
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    pub fn directory_id(&self) -> u64 {
        self.settings
            .get("directoryId")
            .and_then(Value::as_u64)
            .unwrap_or_default()
    }
}

const GIVEN: &[&str] = &[
    "Alice", "Bob", "Chloé", "Dmitri", "Emma", "Farid", "Grace", "Hiroshi", "Ingrid", "José",
    "Kwame", "Lena", "Mateo", "Nora", "Oskar", "Priya", "Quentin", "Rosa", "Sven", "Tomasz", "Uma",
    "Viktor", "Wen", "Yusuf", "Zoë",
];
const FAMILY: &[&str] = &[
    "Anderson",
    "Müller",
    "Nakamura",
    "Okafor",
    "Petrov",
    "Rossi",
    "Schmidt",
    "Dubois",
    "García",
    "Kowalski",
    "Lindqvist",
    "O'Brien",
];

fn users(domain: &str, count: usize, offset: usize) -> Vec<SimUser> {
    (0..count)
        .map(|i| {
            let given = GIVEN[(i + offset) % GIVEN.len()];
            let family = FAMILY[(i * 7 + offset) % FAMILY.len()];
            let login = format!(
                "{}.{}",
                ascii_fold(given).to_lowercase(),
                ascii_fold(family).to_lowercase().replace('\'', "")
            );
            SimUser {
                user_name: login.clone(),
                display_name: format!("{given} {family}"),
                email: format!("{login}@{domain}"),
                fails_with: None,
            }
        })
        .collect()
}

fn ascii_fold(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'é' => 'e',
            'ü' => 'u',
            'ö' => 'o',
            'ë' => 'e',
            'í' => 'i',
            'á' => 'a',
            other => other,
        })
        .collect()
}

fn settings(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The simulator's starting connectors: one of each common kind, each with secret
/// settings a careless bot would leak.
pub fn connectors() -> Vec<SimConnector> {
    let mut okta_users = users("acme.example", 18, 3);
    okta_users[4].fails_with = Some(format!(
        "User {} could not be updated: group 'jira-administrators' is managed by another directory",
        okta_users[4].user_name
    ));
    okta_users[11].fails_with = Some(format!(
        "User {} has no e-mail address in Okta",
        okta_users[11].user_name
    ));
    let mut azure_users = users("acme.example", 24, 0);
    // A user whose name has a space and non-ASCII letters, as helpdesk tickets carry.
    azure_users.push(SimUser {
        user_name: "jürgen müller".into(),
        display_name: "Jürgen Müller".into(),
        email: "juergen.mueller@acme.example".into(),
        fails_with: None,
    });
    vec![
        SimConnector {
            settings: settings(json!({
                "uniqueId": "7df9fd3f-793f-4595-b415-b839b76b0018",
                "name": "Azure AD",
                "type": "AZURE_AD",
                "directoryId": 10100,
                "enabled": true,
                "tenantId": "3f1c8e2a-5b7d-4e9f-a1c2-d3e4f5a6b7c8",
                "clientId": "b2c4d6e8-1a3b-5c7d-9e0f-a1b2c3d4e5f6",
                "clientSecret": "azure-SIM-client-secret-Q8~xv3",
                "groupFilter": ["jira-users", "jira-developers"],
                "cleanupUsersWithoutTimestamp": false,
                "syncSchedule": {"enabled": true, "intervalMinutes": 60},
            })),
            directory_exists: true,
            users: azure_users,
            fail_with: None,
            removed: Vec::new(),
        },
        SimConnector {
            settings: settings(json!({
                "uniqueId": "0b8a2f64-93c1-4d4e-8f0a-6c1e5d2b7a90",
                "name": "Okta",
                "type": "OKTA",
                "directoryId": 10200,
                "enabled": true,
                "oktaDomain": "acme.okta.example",
                "apiToken": "00SIM-okta-api-token-7Gh2",
                "groupFilter": ["Everyone"],
                "cleanupUsersWithoutTimestamp": true,
                "syncSchedule": {"enabled": true, "intervalMinutes": 30},
            })),
            directory_exists: true,
            users: okta_users,
            fail_with: None,
            removed: Vec::new(),
        },
        SimConnector {
            settings: settings(json!({
                "uniqueId": "c5e7a9b1-2d4f-4a6c-8e0b-1f3d5a7c9e2b",
                "name": "Google Workspace",
                "type": "GOOGLE",
                "directoryId": 10300,
                "enabled": true,
                "customerDomain": "acme.example",
                "adminEmail": "it-admin@acme.example",
                "serviceAccountKey": {
                    "client_email": "usersync@acme-sim.iam.example",
                    "private_key": "-----BEGIN PRIVATE KEY-----SIMULATED-----END PRIVATE KEY-----"
                },
                "cleanupUsersWithoutTimestamp": false,
                "syncSchedule": {"enabled": false},
            })),
            directory_exists: true,
            users: users("acme.example", 12, 9),
            fail_with: None,
            removed: Vec::new(),
        },
        SimConnector {
            settings: settings(json!({
                "uniqueId": "e1d2c3b4-a596-4877-9a8b-7c6d5e4f3a21",
                "name": "Corporate LDAP",
                "type": "LDAP",
                "directoryId": 10400,
                "enabled": true,
                "url": "ldaps://ldap.acme.example:636",
                "baseDn": "ou=people,dc=acme,dc=example",
                "bindDn": "cn=usersync,ou=services,dc=acme,dc=example",
                "bindPassword": "ldap-SIM-bind-pw-4kL9",
                "trustedCertificate": "MIIC-SIMULATED-CERTIFICATE",
                "cleanupUsersWithoutTimestamp": false,
                "syncSchedule": {"enabled": true, "intervalMinutes": 120},
            })),
            directory_exists: true,
            users: users("corp.acme.example", 30, 14),
            fail_with: None,
            removed: Vec::new(),
        },
    ]
}

/// The first directory id handed out when a deleted directory is recreated.
pub const NEXT_DIRECTORY_ID: u64 = 10500;
/// The id of the first sync the simulator runs (its seeded history comes just before).
pub const FIRST_SYNC_ID: u64 = 95;
