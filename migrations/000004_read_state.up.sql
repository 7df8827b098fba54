-- Read state (SPEC §7): one marker per user and channel, and the counters that make
-- an unread count one row read instead of a count over the log.
--
-- unread(user, channel) = channels.msg_total - authors.sent - reads.base, where
--   msg_total  the channel's messages ever stored (replies included, deleted ones too)
--   sent       those the user wrote
--   base       the others' messages at or below the marker, plus the others'
--              messages above it that were deleted
-- An append raises msg_total (and the author's sent) in its transaction; a deletion
-- raises base for every marker below it (not its author's); a marker's move raises
-- base by the others' live messages it passed over, counted then.
ALTER TABLE channels
    ADD COLUMN msg_total     bigint NOT NULL DEFAULT 0,
    ADD COLUMN read_receipts boolean NOT NULL DEFAULT true;
UPDATE channels c SET msg_total =
    (SELECT count(*) FROM messages m WHERE m.channel_id = c.id AND m.event = 'message');

CREATE TABLE authors (
    channel_id uuid NOT NULL REFERENCES channels (id),
    user_id    text NOT NULL,
    sent       bigint NOT NULL,
    PRIMARY KEY (channel_id, user_id)
);
INSERT INTO authors (channel_id, user_id, sent)
    SELECT channel_id, user_id, count(*) FROM messages WHERE event = 'message'
    GROUP BY channel_id, user_id;

CREATE TABLE reads (
    channel_id uuid NOT NULL REFERENCES channels (id),
    user_id    text NOT NULL,
    read_seq   bigint NOT NULL,
    read_at    bigint NOT NULL,  -- epoch ms of the move
    base       bigint NOT NULL,
    PRIMARY KEY (channel_id, user_id)
);
CREATE INDEX reads_user ON reads (user_id);
