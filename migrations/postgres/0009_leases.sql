-- Several replicas on one database: each open job is followed by the one replica that
-- holds its lease, and one replica at a time runs the watcher. Lease times are
-- milliseconds since the Unix epoch on the database's clock, never a replica's.
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;             -- the replica following the job
ALTER TABLE jobs ADD COLUMN lease_expires_ms BIGINT;      -- when another replica may take it
CREATE INDEX jobs_lease ON jobs (lease_owner);

-- Named leases (the watcher's leader): `fence` grows by one each time the lease changes
-- hands, so a replica that lost it cannot act on the number it held.
CREATE TABLE leases (
    name       TEXT   PRIMARY KEY,
    owner      TEXT   NOT NULL,
    fence      BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL
);
