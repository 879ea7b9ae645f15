-- A visit started by mistake is closed as cancelled: it stays for the log, and counts as no visit.
ALTER TABLE visits ADD COLUMN cancelled INTEGER NOT NULL DEFAULT 0 CHECK (cancelled IN (0, 1));
