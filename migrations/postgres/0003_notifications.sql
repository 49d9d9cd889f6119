-- Channels that asked from chat to hear about finished syncs.
CREATE TABLE subscriptions (
    id             BIGSERIAL PRIMARY KEY,
    platform       TEXT    NOT NULL,
    channel_id     TEXT    NOT NULL,
    instance       TEXT    NOT NULL,               -- '' for every instance ('*' connectors)
    connector      TEXT    NOT NULL,               -- connector id, or '*'
    connector_name TEXT    NOT NULL,
    failures_only  BIGINT NOT NULL DEFAULT 0,
    max_deleted    BIGINT,
    created_by     TEXT    NOT NULL,
    created_at     TEXT    NOT NULL,
    UNIQUE (platform, channel_id, instance, connector)
);

-- The newest sync of each connector the watcher has dealt with.
CREATE TABLE watch_state (
    instance     TEXT    NOT NULL,
    connector_id TEXT    NOT NULL,
    handled_id   BIGINT NOT NULL,
    updated_at   TEXT    NOT NULL,
    PRIMARY KEY (instance, connector_id)
);

-- The last sync announced per connector and channel: a restart neither repeats nor skips.
CREATE TABLE announcements (
    platform     TEXT    NOT NULL,
    channel_id   TEXT    NOT NULL,
    instance     TEXT    NOT NULL,
    connector_id TEXT    NOT NULL,
    last_sync_id BIGINT NOT NULL,
    updated_at   TEXT    NOT NULL,
    PRIMARY KEY (platform, channel_id, instance, connector_id)
);

-- Instances the watcher cannot reach, reported once when they go down and once when back.
CREATE TABLE outages (
    instance   TEXT PRIMARY KEY,
    down_since TEXT NOT NULL
);
