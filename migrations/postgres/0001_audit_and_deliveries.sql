-- PostgreSQL twin of migrations/sqlite: same tables, columns and row shapes (timestamps as
-- RFC 3339 TEXT, flags as 0/1 BIGINT), so the shared queries in src/store/sql.rs read both.
-- Every command, allowed or denied, with what came of it.
CREATE TABLE audit (
    id           BIGSERIAL PRIMARY KEY,
    at           TEXT    NOT NULL,
    platform     TEXT    NOT NULL,
    user_id      TEXT    NOT NULL,
    channel_id   TEXT    NOT NULL,
    command_text TEXT    NOT NULL,
    decision     TEXT    NOT NULL,
    outcome      TEXT    NOT NULL
);
CREATE INDEX audit_at ON audit (at);

-- Deliveries already acted on, so a re-delivered request never runs a command twice.
CREATE TABLE deliveries (
    platform    TEXT NOT NULL,
    trigger_id  TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (platform, trigger_id)
);
CREATE INDEX deliveries_received_at ON deliveries (received_at);
