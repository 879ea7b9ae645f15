-- Administration: revocable enrollment codes with an id the administrator can name, workers who
-- can be deactivated, and device tokens that rotate.
-- Append-only: add a file, never edit a shipped one. Its twin is server-postgres/0004_administration.sql.

-- An enrollment code's id (printed when it is made, listed by `codes`): the code itself is shown
-- once and kept only as its hash. Codes made before this migration have none and are named by
-- the code. A revoked code enrolls nothing.
ALTER TABLE enrollment_codes ADD COLUMN id TEXT;
ALTER TABLE enrollment_codes ADD COLUMN revoked_at_ms INTEGER;
CREATE UNIQUE INDEX enrollment_codes_by_id ON enrollment_codes (id);

-- A deactivated worker's devices are refused at sync (their work stays on them) and no code
-- enrolls a device for them.
ALTER TABLE workers ADD COLUMN deactivated_at_ms INTEGER;

-- Token rotation, hashes only. `token_issued_at_ms` is when the current token was first used
-- (NULL: at enrollment). `next_token_hash` is a token the server has issued and the device has
-- not yet used, with the salt it was derived with (so a lost answer gets the same token again);
-- `previous_token_hash` is the token it replaced, accepted until `previous_token_until_ms`.
ALTER TABLE devices ADD COLUMN token_issued_at_ms INTEGER;
ALTER TABLE devices ADD COLUMN next_token_hash TEXT;
ALTER TABLE devices ADD COLUMN next_token_salt TEXT;
ALTER TABLE devices ADD COLUMN previous_token_hash TEXT;
ALTER TABLE devices ADD COLUMN previous_token_until_ms INTEGER;
CREATE UNIQUE INDEX devices_by_next_token ON devices (next_token_hash);
CREATE UNIQUE INDEX devices_by_previous_token ON devices (previous_token_hash);
