-- Which replica took a command or a confirmation, and which replicas are alive: a claim
-- left unanswered by a replica that has stopped beating was cut off (the process died),
-- and a re-delivery says so at once instead of "on its way" until the claim is old.
-- `alive_until_ms` is on the database's clock, as the leases are.
CREATE TABLE replicas (
    owner          TEXT   PRIMARY KEY,
    alive_until_ms BIGINT NOT NULL
);
ALTER TABLE deliveries ADD COLUMN claimed_by TEXT;
ALTER TABLE confirmations ADD COLUMN settled_replica TEXT;
