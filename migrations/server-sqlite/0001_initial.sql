-- The server store (SQLite), first version. Append-only: add a file, never edit a shipped one.
-- The change log is the record of everything devices sent; the other tables hold who may do what,
-- the last-writer-wins versions and the conflicts between concurrent edits.

CREATE TABLE teams (
    id   TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL
) STRICT;

CREATE TABLE workers (
    id           TEXT PRIMARY KEY NOT NULL,
    team_id      TEXT NOT NULL REFERENCES teams (id),
    display_name TEXT NOT NULL
) STRICT;

CREATE TABLE citizens (
    id      TEXT PRIMARY KEY NOT NULL,
    team_id TEXT NOT NULL REFERENCES teams (id)
) STRICT;

-- One worker per citizen: the citizen's caseload assignment.
CREATE TABLE caseload (
    citizen_id  TEXT PRIMARY KEY NOT NULL REFERENCES citizens (id),
    worker_id   TEXT NOT NULL REFERENCES workers (id),
    assigned_at_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX caseload_by_worker ON caseload (worker_id);

-- One-time enrollment codes; only their SHA-256 is kept.
CREATE TABLE enrollment_codes (
    code_hash     TEXT PRIMARY KEY NOT NULL,
    worker_id     TEXT NOT NULL REFERENCES workers (id),
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    used_at_ms    INTEGER
) STRICT;

-- Enrolled devices; only the SHA-256 of the token is kept.
CREATE TABLE devices (
    id             TEXT PRIMARY KEY NOT NULL,
    worker_id      TEXT NOT NULL REFERENCES workers (id),
    token_hash     TEXT NOT NULL UNIQUE,
    enrolled_at_ms INTEGER NOT NULL,
    revoked_at_ms  INTEGER,
    last_seq       INTEGER NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    last_sync_ms   INTEGER
) STRICT;

-- Every accepted change at its position. Positions only grow (AUTOINCREMENT never reuses one).
CREATE TABLE change_log (
    position       INTEGER PRIMARY KEY AUTOINCREMENT,
    change_id      TEXT NOT NULL UNIQUE,
    device_id      TEXT NOT NULL REFERENCES devices (id),
    seq            INTEGER NOT NULL CHECK (seq >= 1),
    citizen_id     TEXT NOT NULL REFERENCES citizens (id),
    kind           TEXT NOT NULL,
    hlc_wall_ms    INTEGER NOT NULL,
    hlc_counter    INTEGER NOT NULL,
    device_time_ms INTEGER NOT NULL,
    received_at_ms INTEGER NOT NULL,
    schema_version INTEGER NOT NULL,
    change         TEXT NOT NULL,
    UNIQUE (device_id, seq)
) STRICT;
CREATE INDEX change_log_by_citizen ON change_log (citizen_id, position);

-- The version each last-writer-wins field holds now.
CREATE TABLE field_versions (
    entity      TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    field       TEXT NOT NULL,
    hlc_wall_ms INTEGER NOT NULL,
    hlc_counter INTEGER NOT NULL,
    device_id   TEXT NOT NULL,
    change_id   TEXT NOT NULL,
    PRIMARY KEY (entity, entity_id, field)
) STRICT, WITHOUT ROWID;

-- Concurrent edits of one field: both sides, and which one won. For team leads to read.
CREATE TABLE conflicts (
    id             INTEGER PRIMARY KEY,
    entity         TEXT NOT NULL,
    entity_id      TEXT NOT NULL,
    citizen_id     TEXT NOT NULL,
    field          TEXT NOT NULL,
    winner_change  TEXT NOT NULL,
    loser_change   TEXT NOT NULL,
    detected_at_ms INTEGER NOT NULL
) STRICT;

-- Who read or exported what.
CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    subject TEXT NOT NULL,
    at_ms   INTEGER NOT NULL
) STRICT;
