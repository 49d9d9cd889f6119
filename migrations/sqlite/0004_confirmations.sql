-- The bot's own key (button MACs, fingerprints of secrets): made once, shared by every
-- replica and restart.
CREATE TABLE bot_keys (
    name       TEXT PRIMARY KEY,
    key_hex    TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- Operations shown with confirm/cancel buttons, waiting for the click of the person who
-- asked. Used at most once: settled by one conditional UPDATE.
CREATE TABLE confirmations (
    id             TEXT    PRIMARY KEY,
    platform       TEXT    NOT NULL,
    user_id        TEXT    NOT NULL,
    user_name      TEXT,
    channel_id     TEXT    NOT NULL,
    command_text   TEXT    NOT NULL,
    instance       TEXT    NOT NULL,
    connector_id   TEXT    NOT NULL,
    connector_name TEXT    NOT NULL,
    operation      TEXT    NOT NULL,   -- JSON: what will be sent
    fingerprint    TEXT    NOT NULL,   -- the connector's state as shown (keyed)
    created_at     TEXT    NOT NULL,
    expires_at     TEXT    NOT NULL,
    state          TEXT    NOT NULL,   -- pending | confirmed | cancelled | stale
    settled_by     TEXT,
    settled_at     TEXT
);
