-- The records changes refer to, and the changes set aside. Append-only once released.
--
-- One row per visit, response, note and goal, written as the change that makes it is accepted:
-- whose it is (and, for a visit, which worker started it), so the server can check what a new
-- change refers to without reading the log.
CREATE TABLE records (
    kind       TEXT NOT NULL CHECK (kind IN ('visit', 'response', 'note', 'goal')),
    id         TEXT NOT NULL,
    citizen_id TEXT NOT NULL REFERENCES citizens (id),
    worker_id  TEXT REFERENCES workers (id),
    -- 1 when the change that made it was set aside (below) rather than logged.
    set_aside  INTEGER NOT NULL DEFAULT 0 CHECK (set_aside IN (0, 1)),
    PRIMARY KEY (kind, id)
) STRICT, WITHOUT ROWID;

-- The records of the changes logged so far.
INSERT INTO records (kind, id, citizen_id, worker_id)
SELECT 'visit', json_extract(change, '$.body.visit'), citizen_id, json_extract(change, '$.body.worker')
  FROM change_log WHERE kind = 'visit_started' ORDER BY position
    ON CONFLICT DO NOTHING;
INSERT INTO records (kind, id, citizen_id)
SELECT 'response', json_extract(change, '$.body.response'), citizen_id
  FROM change_log WHERE kind = 'response_recorded' ORDER BY position
    ON CONFLICT DO NOTHING;
INSERT INTO records (kind, id, citizen_id)
SELECT 'note', json_extract(change, '$.body.note'), citizen_id
  FROM change_log WHERE kind = 'note_written' ORDER BY position
    ON CONFLICT DO NOTHING;
INSERT INTO records (kind, id, citizen_id)
SELECT 'goal', json_extract(change, '$.body.entity.goal'), citizen_id
  FROM change_log WHERE kind = 'field_set' AND json_extract(change, '$.body.entity.kind') = 'goal' ORDER BY position
    ON CONFLICT DO NOTHING;

-- Changes acknowledged to their device but kept out of the log: a former worker's changes for a
-- citizen recorded after the citizen moved, and changes that refer to those. No device receives
-- them; the administrator lists them (`fit-server set-aside`).
CREATE TABLE set_aside_changes (
    device_id      TEXT NOT NULL,
    seq            INTEGER NOT NULL CHECK (seq >= 1),
    change_id      TEXT NOT NULL UNIQUE,
    citizen_id     TEXT NOT NULL REFERENCES citizens (id),
    reason         TEXT NOT NULL,
    received_at_ms INTEGER NOT NULL,
    change         TEXT NOT NULL,
    PRIMARY KEY (device_id, seq)
) STRICT;
