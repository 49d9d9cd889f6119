-- Syncs and single-user updates started from chat, followed to the end across restarts.
CREATE TABLE jobs (
    id                      BIGSERIAL PRIMARY KEY,
    kind                    TEXT    NOT NULL,            -- sync | user
    platform                TEXT    NOT NULL,
    instance                TEXT    NOT NULL,
    connector_id            TEXT    NOT NULL,
    connector_name          TEXT    NOT NULL,
    subject                 TEXT,                        -- the user of a single-user update
    channel_id              TEXT    NOT NULL,
    user_id                 TEXT    NOT NULL,
    user_name               TEXT,
    response_url            TEXT,
    response_url_expires_at TEXT,
    response_posts          BIGINT NOT NULL DEFAULT 0,  -- posts made through response_url
    baseline_sync_id        BIGINT,                     -- the last sync id before the trigger
    sync_id                 BIGINT,                     -- the sync this job follows, once known
    local_run               BIGINT NOT NULL DEFAULT 0,
    state                   TEXT    NOT NULL,            -- following | done | failed | timed_out
    last_status             TEXT,                        -- JSON of the last record seen
    progress_channel        TEXT,                        -- a progress message posted with the bot token
    progress_ts             TEXT,
    delivery                TEXT    NOT NULL DEFAULT 'pending', -- pending | posting | posted | undeliverable
    delivery_error          TEXT,
    started_at              TEXT    NOT NULL,
    updated_at              TEXT    NOT NULL,
    finished_at             TEXT
);
CREATE INDEX jobs_state ON jobs (state, delivery);
