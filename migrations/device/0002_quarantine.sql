-- Changes pulled from the server that this device cannot apply (a change that fails the check or
-- names a visit this device does not hold), kept with the reason. The rest of their page applies
-- and the cursor moves on past them, so one such change stalls nothing. Erased with their citizen.
CREATE TABLE quarantine (
    change_id         TEXT PRIMARY KEY NOT NULL,
    citizen_id        TEXT NOT NULL,
    change_json       TEXT NOT NULL,
    code              TEXT NOT NULL,
    reason            TEXT NOT NULL,
    quarantined_at_ms INTEGER NOT NULL
) STRICT;
