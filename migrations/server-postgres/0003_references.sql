-- The records changes refer to, and the changes set aside: the tables of
-- migrations/server-sqlite/0003_references.sql in PostgreSQL types. Append-only once released.

CREATE TABLE records (
    kind       text NOT NULL CHECK (kind IN ('visit', 'response', 'note', 'goal')),
    id         text NOT NULL,
    citizen_id text NOT NULL REFERENCES citizens (id),
    worker_id  text REFERENCES workers (id),
    set_aside  boolean NOT NULL DEFAULT false,
    PRIMARY KEY (kind, id)
);

INSERT INTO records (kind, id, citizen_id, worker_id)
SELECT 'visit', change::jsonb -> 'body' ->> 'visit', citizen_id, change::jsonb -> 'body' ->> 'worker'
  FROM change_log WHERE kind = 'visit_started' ORDER BY position
    ON CONFLICT DO NOTHING;
INSERT INTO records (kind, id, citizen_id)
SELECT 'response', change::jsonb -> 'body' ->> 'response', citizen_id
  FROM change_log WHERE kind = 'response_recorded' ORDER BY position
    ON CONFLICT DO NOTHING;
INSERT INTO records (kind, id, citizen_id)
SELECT 'note', change::jsonb -> 'body' ->> 'note', citizen_id
  FROM change_log WHERE kind = 'note_written' ORDER BY position
    ON CONFLICT DO NOTHING;
INSERT INTO records (kind, id, citizen_id)
SELECT 'goal', change::jsonb -> 'body' -> 'entity' ->> 'goal', citizen_id
  FROM change_log WHERE kind = 'field_set' AND change::jsonb -> 'body' -> 'entity' ->> 'kind' = 'goal'
 ORDER BY position
    ON CONFLICT DO NOTHING;

CREATE TABLE set_aside_changes (
    device_id      text NOT NULL,
    seq            bigint NOT NULL CHECK (seq >= 1),
    change_id      text NOT NULL UNIQUE,
    citizen_id     text NOT NULL REFERENCES citizens (id),
    reason         text NOT NULL,
    received_at_ms bigint NOT NULL,
    change         text NOT NULL,
    PRIMARY KEY (device_id, seq)
);
