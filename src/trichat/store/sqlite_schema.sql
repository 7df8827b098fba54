CREATE TABLE IF NOT EXISTS channels (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    channel_type     TEXT NOT NULL CHECK (channel_type IN ('public', 'private')),
    max_participants INTEGER,
    is_active        INTEGER NOT NULL DEFAULT 1,
    created_by       TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    last_seq         INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS channels_name ON channels (name);

CREATE TABLE IF NOT EXISTS messages (
    channel_id   TEXT NOT NULL REFERENCES channels (id),
    seq          INTEGER NOT NULL,
    message_id   TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    username     TEXT NOT NULL,
    display_name TEXT,
    avatar_url   TEXT,
    content      TEXT NOT NULL,
    kind         TEXT NOT NULL DEFAULT 'user',
    created_at   INTEGER NOT NULL,
    deleted_at   INTEGER,
    PRIMARY KEY (channel_id, seq),
    UNIQUE (channel_id, user_id, message_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS members (
    channel_id TEXT NOT NULL REFERENCES channels (id),
    user_id    TEXT NOT NULL,
    added_by   TEXT NOT NULL,
    added_at   INTEGER NOT NULL,
    PRIMARY KEY (channel_id, user_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS bans (
    channel_id TEXT NOT NULL REFERENCES channels (id),
    user_id    TEXT NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    banned_by  TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (channel_id, user_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS moderation_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_id TEXT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    detail     TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS moderation_log_channel ON moderation_log (channel_id, id);

-- when each user was last present in each channel (written at presence start and end)
CREATE TABLE IF NOT EXISTS presence (
    channel_id TEXT NOT NULL REFERENCES channels (id),
    user_id    TEXT NOT NULL,
    username   TEXT NOT NULL,
    last_seen  INTEGER NOT NULL,
    PRIMARY KEY (channel_id, user_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS presence_recent ON presence (channel_id, last_seen);

-- one row, written by the health check after a failed write to prove writes work again
CREATE TABLE IF NOT EXISTS health (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL
);
