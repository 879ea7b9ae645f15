-- The server store (SQLite), first version. Append-only once released: add a file, never edit a shipped one.
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

-- The server's own identity: the changes it writes itself (a citizen's profile from the admin
-- commands) carry this device id, their own sequence and the server's hybrid logical clock.
CREATE TABLE server_identity (
    singleton   INTEGER PRIMARY KEY CHECK (singleton = 1),
    device_id   TEXT NOT NULL,
    last_seq    INTEGER NOT NULL DEFAULT 0,
    hlc_wall_ms INTEGER NOT NULL DEFAULT 0,
    hlc_counter INTEGER NOT NULL DEFAULT 0
) STRICT;

-- One worker per citizen: the citizen's caseload assignment. `assigned_position` is the log
-- position of the assignment event: a device whose cursor lies before it has not yet received
-- the citizen's history, so its next pulls bring that history first (back-fill).
CREATE TABLE caseload (
    citizen_id        TEXT PRIMARY KEY NOT NULL REFERENCES citizens (id),
    worker_id         TEXT NOT NULL REFERENCES workers (id),
    assigned_at_ms    INTEGER NOT NULL,
    assigned_position INTEGER NOT NULL
) STRICT;
CREATE INDEX caseload_by_worker ON caseload (worker_id);

-- Every assignment, at a position in the same sequence as the change log: how a device learns
-- that a citizen has left its worker's caseload.
CREATE TABLE caseload_events (
    position           INTEGER PRIMARY KEY,
    citizen_id         TEXT NOT NULL REFERENCES citizens (id),
    worker_id          TEXT NOT NULL REFERENCES workers (id),
    previous_worker_id TEXT REFERENCES workers (id),
    at_ms              INTEGER NOT NULL
) STRICT;
CREATE INDEX caseload_events_by_previous ON caseload_events (previous_worker_id, position);

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

-- Every accepted change at its position. Positions are shared with caseload_events and only grow:
-- the one writer takes the next after the largest of both tables. `device_id` is an enrolled
-- device or the server itself (server_identity).
CREATE TABLE change_log (
    position       INTEGER PRIMARY KEY,
    change_id      TEXT NOT NULL UNIQUE,
    device_id      TEXT NOT NULL,
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
