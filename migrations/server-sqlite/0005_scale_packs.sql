-- Scale packs the administrator installed (`fit-server install-pack`): a licence holder's full
-- ORS/SRS text, or a new scale. Every install is kept; the current pack of a code is the one
-- installed last (`rules::packs`), so an earlier version can be installed again. The built-in
-- packs are compiled in and are not stored here.
-- Append-only: add a file, never edit a shipped one. Its twin is server-postgres/0005_scale_packs.sql.
CREATE TABLE scale_packs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    code            TEXT NOT NULL,
    version         TEXT NOT NULL,
    file            TEXT NOT NULL,
    pack            TEXT NOT NULL,
    installed_at_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX scale_packs_by_code ON scale_packs (code, version);
