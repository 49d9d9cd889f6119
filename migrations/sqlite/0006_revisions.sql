-- Every connector configuration the bot saw, kept when it differed from the one before:
-- secrets only as keyed fingerprints. `seq` counts 1, 2, 3… per connector; the UNIQUE
-- constraint refuses a second writer's copy of the same revision.
CREATE TABLE connector_revisions (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    instance        TEXT    NOT NULL,
    connector_id    TEXT    NOT NULL,
    connector_name  TEXT    NOT NULL,
    seq             INTEGER NOT NULL,
    seen_at         TEXT    NOT NULL,
    settings        TEXT    NOT NULL,   -- JSON, secrets replaced by "fingerprint:<hex>"
    fields          TEXT    NOT NULL,   -- JSON list of the dotted fields changed since seq - 1
    changed_by      TEXT,               -- principal (slack:U1); NULL: outside the bot
    changed_by_name TEXT,
    announced       INTEGER NOT NULL DEFAULT 0,
    UNIQUE (instance, connector_id, seq)
);
CREATE INDEX connector_revisions_unannounced ON connector_revisions (announced, instance);
