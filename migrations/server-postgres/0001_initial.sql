-- The server store (PostgreSQL), first version: the tables of migrations/server-sqlite/0001_initial.sql
-- in PostgreSQL types. Append-only once released: add a file, never edit a shipped one.
-- Ids are text (UUIDs as the devices send them); times and positions bigint; a change is kept as the
-- exact JSON text it was stored as, so it reads back as the same `Change`.

CREATE TABLE teams (
    id   text PRIMARY KEY,
    name text NOT NULL
);

CREATE TABLE workers (
    id           text PRIMARY KEY,
    team_id      text NOT NULL REFERENCES teams (id),
    display_name text NOT NULL
);

CREATE TABLE citizens (
    id      text PRIMARY KEY,
    team_id text NOT NULL REFERENCES teams (id)
);

-- The server's own identity: the changes it writes itself (a citizen's profile from the admin
-- commands) carry this device id, their own sequence and the server's hybrid logical clock.
CREATE TABLE server_identity (
    singleton   integer PRIMARY KEY CHECK (singleton = 1),
    device_id   text NOT NULL,
    last_seq    bigint NOT NULL DEFAULT 0,
    hlc_wall_ms bigint NOT NULL DEFAULT 0,
    hlc_counter bigint NOT NULL DEFAULT 0
);

-- One worker per citizen. `assigned_position` is the log position of the assignment event: a
-- device whose cursor lies before it has not yet received the citizen's history (back-fill).
CREATE TABLE caseload (
    citizen_id        text PRIMARY KEY REFERENCES citizens (id),
    worker_id         text NOT NULL REFERENCES workers (id),
    assigned_at_ms    bigint NOT NULL,
    assigned_position bigint NOT NULL
);
CREATE INDEX caseload_by_worker ON caseload (worker_id);

-- Every assignment, at a position in the same sequence as the change log: how a device learns
-- that a citizen has left its worker's caseload.
CREATE TABLE caseload_events (
    position           bigint PRIMARY KEY,
    citizen_id         text NOT NULL REFERENCES citizens (id),
    worker_id          text NOT NULL REFERENCES workers (id),
    previous_worker_id text REFERENCES workers (id),
    at_ms              bigint NOT NULL
);
CREATE INDEX caseload_events_by_previous ON caseload_events (previous_worker_id, position);
-- The scope check of a push: was this citizen ever in this worker's caseload?
CREATE INDEX caseload_events_by_citizen ON caseload_events (citizen_id, worker_id);

-- One-time enrollment codes; only their SHA-256 is kept.
CREATE TABLE enrollment_codes (
    code_hash     text PRIMARY KEY,
    worker_id     text NOT NULL REFERENCES workers (id),
    created_at_ms bigint NOT NULL,
    expires_at_ms bigint NOT NULL,
    used_at_ms    bigint
);

-- Enrolled devices; only the SHA-256 of the token is kept.
CREATE TABLE devices (
    id             text PRIMARY KEY,
    worker_id      text NOT NULL REFERENCES workers (id),
    token_hash     text NOT NULL UNIQUE,
    enrolled_at_ms bigint NOT NULL,
    revoked_at_ms  bigint,
    last_seq       bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    last_sync_ms   bigint
);

-- Every accepted change at its position. Positions are shared with caseload_events and only grow:
-- every writing transaction holds one advisory lock and takes the next after the largest of both
-- tables, so positions commit in order. `device_id` is an enrolled device or the server itself.
CREATE TABLE change_log (
    position       bigint PRIMARY KEY,
    change_id      text NOT NULL UNIQUE,
    device_id      text NOT NULL,
    seq            bigint NOT NULL CHECK (seq >= 1),
    citizen_id     text NOT NULL REFERENCES citizens (id),
    kind           text NOT NULL,
    hlc_wall_ms    bigint NOT NULL,
    hlc_counter    bigint NOT NULL,
    device_time_ms bigint NOT NULL,
    received_at_ms bigint NOT NULL,
    schema_version bigint NOT NULL,
    change         text NOT NULL,
    UNIQUE (device_id, seq)
);
CREATE INDEX change_log_by_citizen ON change_log (citizen_id, position);

-- The version each last-writer-wins field holds now.
CREATE TABLE field_versions (
    entity      text NOT NULL,
    entity_id   text NOT NULL,
    field       text NOT NULL,
    hlc_wall_ms bigint NOT NULL,
    hlc_counter bigint NOT NULL,
    device_id   text NOT NULL,
    change_id   text NOT NULL,
    PRIMARY KEY (entity, entity_id, field)
);

-- Concurrent edits of one field: both sides, and which one won. For team leads to read.
CREATE TABLE conflicts (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entity         text NOT NULL,
    entity_id      text NOT NULL,
    citizen_id     text NOT NULL,
    field          text NOT NULL,
    winner_change  text NOT NULL,
    loser_change   text NOT NULL,
    detected_at_ms bigint NOT NULL
);

-- Who read or exported what.
CREATE TABLE audit_log (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor   text NOT NULL,
    action  text NOT NULL,
    subject text NOT NULL,
    at_ms   bigint NOT NULL
);
