-- Who confirmed an operation that needs more than one admin (delete-directory with
-- [guards] delete_directory_approvals): one row per distinct admin.
CREATE TABLE approvals (
    pending_id  TEXT NOT NULL,
    approver    TEXT NOT NULL,
    approved_at TEXT NOT NULL,
    PRIMARY KEY (pending_id, approver)
);

-- Directories the bot deleted: `run` and `user` on their connector say so, with the way
-- back, until the connector has a directory again.
CREATE TABLE deleted_directories (
    instance     TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    directory_id TEXT NOT NULL,
    deleted_at   TEXT NOT NULL,
    deleted_by   TEXT NOT NULL,
    PRIMARY KEY (instance, connector_id, directory_id)
);

-- Every sync the bot saw finish, with its user total and deletions: the guard on mass
-- deletion compares a sync with the one before.
CREATE TABLE syncs_seen (
    instance     TEXT    NOT NULL,
    connector_id TEXT    NOT NULL,
    sync_id      BIGINT  NOT NULL,
    total        BIGINT,
    deleted      BIGINT,
    seen_at      TEXT    NOT NULL,
    PRIMARY KEY (instance, connector_id, sync_id)
);

-- Mass-deletion alerts: while one is not acknowledged, `run` of its connector asks first.
CREATE TABLE deletion_alerts (
    instance        TEXT   NOT NULL,
    connector_id    TEXT   NOT NULL,
    sync_id         BIGINT NOT NULL,
    connector_name  TEXT   NOT NULL,
    reason          TEXT   NOT NULL,
    raised_at       TEXT   NOT NULL,
    acknowledged_by TEXT,
    acknowledged_at TEXT,
    PRIMARY KEY (instance, connector_id, sync_id)
);
