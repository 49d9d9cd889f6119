-- The first answer to a command that changes something, kept with its claimed delivery:
-- a re-delivery after a restart (or on another replica) gets that answer again, and one
-- whose first run left no answer (the process died while it ran) is told so plainly.
ALTER TABLE deliveries ADD COLUMN answer TEXT;
