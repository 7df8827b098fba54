-- Read state (SPEC §7), on top of v2: see migrations/000004_read_state.up.sql for
-- what each counter means. The new columns of `channels` are added by
-- `sqlite_upgrade.py`. Everything here may run again. No semicolon in comments.
UPDATE channels SET msg_total =
    (SELECT count(*) FROM messages m WHERE m.channel_id = channels.id AND m.event = 'message');

CREATE TABLE IF NOT EXISTS authors (
    channel_id TEXT NOT NULL REFERENCES channels (id),
    user_id    TEXT NOT NULL,
    sent       INTEGER NOT NULL,
    PRIMARY KEY (channel_id, user_id)
) WITHOUT ROWID;
INSERT OR REPLACE INTO authors (channel_id, user_id, sent)
    SELECT channel_id, user_id, count(*) FROM messages WHERE event = 'message'
    GROUP BY channel_id, user_id;

CREATE TABLE IF NOT EXISTS reads (
    channel_id TEXT NOT NULL REFERENCES channels (id),
    user_id    TEXT NOT NULL,
    read_seq   INTEGER NOT NULL,
    read_at    INTEGER NOT NULL,
    base       INTEGER NOT NULL,
    PRIMARY KEY (channel_id, user_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS reads_user ON reads (user_id);
