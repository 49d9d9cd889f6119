//! The User Sync REST API: typed records, errors, and the client of one product instance.

mod client;
mod error;
pub mod metrics;
mod model;
pub mod settings;

pub use client::{
    ApiFlavour, Credentials, InstanceConfig, RetryPolicy, UserSyncClient, DEFAULT_TIMEOUT,
    DIRECTORY_PREFIX, JSON_CONTENT_TYPE, JSON_PATCH_CONTENT_TYPE, MERGE_PATCH_CONTENT_TYPE,
    USERSYNC_PREFIX, XSRF_HEADER, XSRF_VALUE,
};
pub use error::UserSyncError;
pub use model::{
    is_secret_field, redact_secrets, Connector, ResultCount, SyncOutcome, SyncState, SyncStatus,
    SyncUserResult, TriggerAnswer, REDACTED, SECRET_FIELD_HINTS,
};
