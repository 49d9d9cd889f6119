-- Who confirmed an operation that needs more than one admin (delete-directory with
-- [guards] delete_directory_approvals): one row per distinct admin.
CREATE TABLE approvals (
    pending_id  TEXT NOT NULL,
    approver    TEXT NOT NULL,
    approved_at TEXT NOT NULL,
    PRIMARY KEY (pending_id, approver)
);
