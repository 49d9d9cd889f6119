-- Locks from chat (`lock`): a connector, or every connector ('*'), held by one person
-- until it expires. One lock per target; an expired one simply stops counting and is
-- replaced by the next lock on that target.
CREATE TABLE locks (
    instance       TEXT NOT NULL,   -- '' for a lock on every connector
    connector_id   TEXT NOT NULL,   -- connector id, or '*'
    connector_name TEXT NOT NULL,
    owner_platform TEXT NOT NULL,
    owner_id       TEXT NOT NULL,
    owner_name     TEXT,
    reason         TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    PRIMARY KEY (instance, connector_id)
);

-- Alerts about protected accounts hit by a sync, one per sync and channel, whether the
-- job or the watcher saw the sync first.
CREATE TABLE protected_alerts (
    platform   TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    instance   TEXT NOT NULL,
    sync_id    BIGINT NOT NULL,
    alerted_at TEXT NOT NULL,
    PRIMARY KEY (platform, channel_id, instance, sync_id)
);
