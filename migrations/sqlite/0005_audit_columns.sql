-- What the `audit` command filters on: the user's name, the command (its canonical name;
-- NULL when the text named no command) and the connector argument as typed (NULL when the
-- command has none). Rows written before this migration have NULL in all three.
ALTER TABLE audit ADD COLUMN user_name TEXT;
ALTER TABLE audit ADD COLUMN command TEXT;
ALTER TABLE audit ADD COLUMN connector TEXT;

-- Newest first, for one command: `audit --command run` reads this index backwards and
-- stops after N rows, and counts the older ones on it. (Unfiltered reads go backwards
-- along the primary key.)
CREATE INDEX audit_command_newest ON audit (command, id);
