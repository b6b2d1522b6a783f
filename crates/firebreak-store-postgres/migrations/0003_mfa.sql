-- 0003: a second factor for users (PostgreSQL). Same columns as the SQLite migration 0003:
-- the TOTP secret (base32), whether it is confirmed and required at sign-in, the SHA-256 hashes
-- (hex) of the unused recovery codes, and the last TOTP time step used (no replays); and on
-- api_tokens, when the second factor was last given for a console session (step-up).

ALTER TABLE users ADD COLUMN totp_secret    text;
ALTER TABLE users ADD COLUMN mfa_enabled    boolean NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN recovery_codes text[]  NOT NULL DEFAULT '{}';
ALTER TABLE users ADD COLUMN totp_last_step bigint;

ALTER TABLE api_tokens ADD COLUMN mfa_at timestamptz;
