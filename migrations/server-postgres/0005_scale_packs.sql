-- Scale packs the administrator installed (`fit-server install-pack`): a licence holder's full
-- ORS/SRS text, or a new scale. Every install is kept; the current pack of a code is the one
-- installed last (`rules::packs`), so an earlier version can be installed again. The built-in
-- packs are compiled in and are not stored here.
-- Append-only: add a file, never edit a shipped one. Its twin is server-sqlite/0005_scale_packs.sql.
CREATE TABLE scale_packs (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code            text NOT NULL,
    version         text NOT NULL,
    file            text NOT NULL,
    pack            text NOT NULL,
    installed_at_ms bigint NOT NULL
);
CREATE INDEX scale_packs_by_code ON scale_packs (code, version);
