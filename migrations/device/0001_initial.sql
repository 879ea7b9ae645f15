-- The device store, first version. Migrations are append-only: never edit one that has shipped;
-- add the next file instead. PRAGMAs (WAL, synchronous, foreign_keys, busy_timeout) are set in
-- code at every open, not here.

-- Small facts about this replica: its device id, worker, last HLC, protocol state.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE teams (
    id   TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL
) STRICT;

CREATE TABLE workers (
    id           TEXT PRIMARY KEY NOT NULL,
    team_id      TEXT NOT NULL REFERENCES teams (id),
    display_name TEXT NOT NULL
) STRICT;

-- Citizens are pseudonymous here: a display name, a birth year or age band, and the
-- municipality's case reference. Never a CPR number.
CREATE TABLE citizens (
    id             TEXT PRIMARY KEY NOT NULL,
    display_name   TEXT NOT NULL DEFAULT '',
    birth_year     INTEGER CHECK (birth_year IS NULL OR birth_year BETWEEN 1900 AND 2200),
    age_band       TEXT NOT NULL DEFAULT 'adult' CHECK (age_band IN ('child', 'adolescent', 'adult')),
    case_reference TEXT
) STRICT;

CREATE TABLE caseload (
    worker_id  TEXT NOT NULL REFERENCES workers (id),
    citizen_id TEXT NOT NULL REFERENCES citizens (id),
    PRIMARY KEY (worker_id, citizen_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE visits (
    id            TEXT PRIMARY KEY NOT NULL,
    citizen_id    TEXT NOT NULL REFERENCES citizens (id),
    worker_id     TEXT NOT NULL,
    started_at_ms INTEGER NOT NULL,
    closed_at_ms  INTEGER CHECK (closed_at_ms IS NULL OR closed_at_ms >= started_at_ms)
) STRICT;
CREATE INDEX visits_by_citizen ON visits (citizen_id, started_at_ms);

-- One filled-in or not-given scale. Answers are JSON in the scale's item order: integer tenths
-- for lines, option values for choices. A correction is a new row naming the one it supersedes.
CREATE TABLE responses (
    id               TEXT PRIMARY KEY NOT NULL,
    visit_id         TEXT NOT NULL REFERENCES visits (id),
    citizen_id       TEXT NOT NULL REFERENCES citizens (id),
    scale            TEXT NOT NULL,
    scale_version    TEXT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('outcome', 'alliance', 'wellbeing')),
    marked_by        TEXT CHECK (marked_by IN ('citizen_on_device', 'read_aloud_verbal', 'transcribed_from_paper')),
    not_given_reason TEXT CHECK (not_given_reason IN ('declined', 'too_unwell', 'no_time', 'other')),
    answers          TEXT,
    total_raw        INTEGER,
    total_score      INTEGER,
    recorded_at_ms   INTEGER NOT NULL,
    supersedes       TEXT REFERENCES responses (id),
    hlc_wall_ms      INTEGER NOT NULL,
    hlc_counter      INTEGER NOT NULL,
    CHECK ((answers IS NULL) = (marked_by IS NULL)),
    CHECK ((answers IS NULL) = (total_score IS NULL)),
    CHECK ((answers IS NULL) <> (not_given_reason IS NULL))
) STRICT;
CREATE INDEX responses_by_citizen ON responses (citizen_id, visit_id);
CREATE INDEX responses_by_supersedes ON responses (supersedes) WHERE supersedes IS NOT NULL;

-- Notes are append-only: a new version names the one it supersedes.
CREATE TABLE notes (
    id            TEXT PRIMARY KEY NOT NULL,
    citizen_id    TEXT NOT NULL REFERENCES citizens (id),
    visit_id      TEXT REFERENCES visits (id),
    body          TEXT NOT NULL,
    written_at_ms INTEGER NOT NULL,
    supersedes    TEXT REFERENCES notes (id),
    hlc_wall_ms   INTEGER NOT NULL,
    hlc_counter   INTEGER NOT NULL
) STRICT;
CREATE INDEX notes_by_citizen ON notes (citizen_id, written_at_ms);
CREATE INDEX notes_by_supersedes ON notes (supersedes) WHERE supersedes IS NOT NULL;

-- Goals: last-writer-wins fields (versions in field_versions); a delete is a tombstone.
CREATE TABLE goals (
    id         TEXT PRIMARY KEY NOT NULL,
    citizen_id TEXT NOT NULL REFERENCES citizens (id),
    title      TEXT NOT NULL DEFAULT '',
    status     TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'achieved', 'dropped')),
    deleted    INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1))
) STRICT;
CREATE INDEX goals_by_citizen ON goals (citizen_id);

-- The version of every last-writer-wins field: (HLC, device) of the write that holds it.
CREATE TABLE field_versions (
    entity      TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    field       TEXT NOT NULL,
    hlc_wall_ms INTEGER NOT NULL,
    hlc_counter INTEGER NOT NULL,
    device_id   TEXT NOT NULL,
    PRIMARY KEY (entity, entity_id, field)
) STRICT, WITHOUT ROWID;

-- Every local write adds one entry here in the same transaction as its domain rows.
-- AUTOINCREMENT: a sequence number is never reused, even after entries are acknowledged and removed.
CREATE TABLE outbox (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    change_id      TEXT NOT NULL UNIQUE,
    citizen_id     TEXT NOT NULL,
    hlc_wall_ms    INTEGER NOT NULL,
    hlc_counter    INTEGER NOT NULL,
    device_time_ms INTEGER NOT NULL,
    schema_version INTEGER NOT NULL,
    body           TEXT NOT NULL
) STRICT;
CREATE INDEX outbox_by_citizen ON outbox (citizen_id);

-- Citizens the server moved to another worker's caseload. They leave the caseload screen at
-- once; their rows are erased as soon as none of their changes waits in the outbox.
CREATE TABLE leaving_citizens (
    citizen_id TEXT PRIMARY KEY NOT NULL
) STRICT;

-- Positions in the server's change log, per stream.
CREATE TABLE sync_cursors (
    stream   TEXT PRIMARY KEY NOT NULL,
    position INTEGER NOT NULL CHECK (position >= 0)
) STRICT;

-- Who opened which citizen's record on this device, and when.
CREATE TABLE read_audit (
    id         INTEGER PRIMARY KEY,
    citizen_id TEXT NOT NULL,
    worker_id  TEXT,
    what       TEXT NOT NULL,
    read_at_ms INTEGER NOT NULL
) STRICT;

-- A cache of each citizen's caseload line (last ORS, the one before, open alert codes), so the
-- caseload opens in one query however long the histories are. Any change about a citizen
-- deletes its row in the same transaction; the next overview recomputes it.
CREATE TABLE citizen_summaries (
    citizen_id TEXT PRIMARY KEY NOT NULL REFERENCES citizens (id),
    summary    TEXT NOT NULL
) STRICT;

-- Scale packs installed from the server (licensed full text); built-in packs are compiled in.
CREATE TABLE scale_packs (
    code            TEXT PRIMARY KEY NOT NULL,
    version         TEXT NOT NULL,
    pack            TEXT NOT NULL,
    installed_at_ms INTEGER NOT NULL
) STRICT;
