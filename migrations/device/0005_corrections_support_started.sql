-- Corrections: a response may now be withdrawn by a correction (recorded for the wrong citizen,
-- or twice), so a row is given, not given, or withdrawn (`status`), and a correction carries its
-- reason beside the response it supersedes. SQLite cannot change a table's CHECKs in place, so
-- the table is made again and its rows copied; the new table refers to itself until it takes the
-- old name, so dropping the old one breaks no reference.
CREATE TABLE responses_new (
    id               TEXT PRIMARY KEY NOT NULL,
    visit_id         TEXT NOT NULL REFERENCES visits (id),
    citizen_id       TEXT NOT NULL REFERENCES citizens (id),
    scale            TEXT NOT NULL,
    scale_version    TEXT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('outcome', 'alliance', 'wellbeing')),
    status           TEXT NOT NULL CHECK (status IN ('given', 'not_given', 'withdrawn')),
    marked_by        TEXT CHECK (marked_by IN ('citizen_on_device', 'read_aloud_verbal', 'transcribed_from_paper')),
    not_given_reason TEXT CHECK (not_given_reason IN ('declined', 'too_unwell', 'no_time', 'other')),
    answers          TEXT,
    total_raw        INTEGER,
    total_score      INTEGER,
    recorded_at_ms   INTEGER NOT NULL,
    supersedes       TEXT REFERENCES responses_new (id),
    correction       TEXT CHECK (correction IN ('wrong_mark', 'wrong_citizen', 'entered_twice')),
    hlc_wall_ms      INTEGER NOT NULL,
    hlc_counter      INTEGER NOT NULL,
    CHECK ((answers IS NOT NULL) = (status = 'given')),
    CHECK ((answers IS NULL) = (marked_by IS NULL)),
    CHECK ((answers IS NULL) = (total_score IS NULL)),
    CHECK ((not_given_reason IS NOT NULL) = (status = 'not_given')),
    CHECK ((supersedes IS NULL) = (correction IS NULL))
) STRICT;

INSERT INTO responses_new (id, visit_id, citizen_id, scale, scale_version, kind, status, marked_by,
    not_given_reason, answers, total_raw, total_score, recorded_at_ms, supersedes, correction,
    hlc_wall_ms, hlc_counter)
SELECT id, visit_id, citizen_id, scale, scale_version, kind,
    CASE WHEN answers IS NULL THEN 'not_given' ELSE 'given' END, marked_by,
    not_given_reason, answers, total_raw, total_score, recorded_at_ms, supersedes,
    CASE WHEN supersedes IS NULL THEN NULL ELSE 'wrong_mark' END,
    hlc_wall_ms, hlc_counter
FROM responses;

DROP TABLE responses;
ALTER TABLE responses_new RENAME TO responses;
CREATE INDEX responses_by_citizen ON responses (citizen_id, visit_id);
CREATE INDEX responses_by_supersedes ON responses (supersedes) WHERE supersedes IS NOT NULL;

-- The day a citizen's support started, as the server sends it (a field like the profile's others).
ALTER TABLE citizens ADD COLUMN support_started TEXT;
