-- When each set-aside change was reported to the server (null until it is): a device reports what
-- it could not apply on its next sync, once.
ALTER TABLE quarantine ADD COLUMN reported_at_ms INTEGER;
