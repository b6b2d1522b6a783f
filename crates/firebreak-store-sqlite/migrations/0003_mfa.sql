-- 0003: a second factor per user: the TOTP secret (base32), whether it is confirmed and required
-- at sign-in, the hashes of unused recovery codes, and the last time step used (no replays).

ALTER TABLE users ADD COLUMN totp_secret TEXT;
ALTER TABLE users ADD COLUMN mfa_enabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN recovery_codes TEXT NOT NULL DEFAULT '[]';
ALTER TABLE users ADD COLUMN totp_last_step INTEGER;
ALTER TABLE api_tokens ADD COLUMN mfa_at INTEGER;
