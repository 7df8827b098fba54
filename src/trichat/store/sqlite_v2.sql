-- The channel log (SPEC §6), on top of sqlite_schema.sql: see
-- migrations/000003_channel_log.up.sql for the meaning of each column. The new
-- columns of `messages` are added by `sqlite_upgrade.py` (SQLite has no ADD COLUMN
-- IF NOT EXISTS). Everything here may run again. No semicolon in comments: the
-- upgrade splits statements on it. History reads the primary key and skips the
-- other events' rows: an index of messages only cost every append an index insert
-- (S2: +11 % CPU per stored message with it, +3 % without: docs/performance.md).
CREATE INDEX IF NOT EXISTS messages_thread ON messages (channel_id, parent_seq, seq)
    WHERE parent_seq IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_target ON messages (channel_id, target_seq)
    WHERE target_seq IS NOT NULL;

CREATE TABLE IF NOT EXISTS reactions (
    channel_id TEXT NOT NULL REFERENCES channels (id),
    seq        INTEGER NOT NULL,
    emoji      TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    added_seq  INTEGER NOT NULL,
    PRIMARY KEY (channel_id, seq, emoji, user_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reaction_counts (
    channel_id TEXT NOT NULL REFERENCES channels (id),
    seq        INTEGER NOT NULL,
    emoji      TEXT NOT NULL,
    holders    INTEGER NOT NULL,
    first_seq  INTEGER NOT NULL,
    PRIMARY KEY (channel_id, seq, emoji)
) WITHOUT ROWID;
