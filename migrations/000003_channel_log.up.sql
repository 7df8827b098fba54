-- The channel log (SPEC §6): every row of `messages` is one event of its channel's
-- log, numbered by the channel's seq. A message row carries its current state
-- (latest content, edited_at, deleted_at, the thread counters); an edit, a deletion
-- and a reaction change are rows of their own pointing at their message
-- (target_seq). Reactions held, and their counts kept in the same transaction.
ALTER TABLE messages
    ADD COLUMN parent_seq     bigint,                          -- a reply: its root
    ADD COLUMN edited_at      bigint,
    ADD COLUMN reply_count    integer NOT NULL DEFAULT 0,      -- replies not deleted
    ADD COLUMN last_reply_at  bigint,
    ADD COLUMN event          text NOT NULL DEFAULT 'message'
        CHECK (event IN ('message', 'edit', 'delete', 'react', 'unreact')),
    ADD COLUMN target_seq     bigint,                          -- the message changed
    ADD COLUMN emoji          text,
    ADD COLUMN reaction_count integer;                         -- holders after the change
-- no index of messages only: history reads the primary key and skips other rows
-- (one more index insert per message cost S2 more than the skipping saves)
CREATE INDEX messages_thread ON messages (channel_id, parent_seq, seq)
    WHERE parent_seq IS NOT NULL;
CREATE INDEX messages_target ON messages (channel_id, target_seq)
    WHERE target_seq IS NOT NULL;

CREATE TABLE reactions (
    channel_id uuid NOT NULL REFERENCES channels (id),
    seq        bigint NOT NULL,
    emoji      text NOT NULL,
    user_id    text NOT NULL,
    added_seq  bigint NOT NULL,  -- the react event's seq: holders in the order they came
    PRIMARY KEY (channel_id, seq, emoji, user_id)
);
CREATE TABLE reaction_counts (
    channel_id uuid NOT NULL REFERENCES channels (id),
    seq        bigint NOT NULL,
    emoji      text NOT NULL,
    holders    integer NOT NULL,
    first_seq  bigint NOT NULL,  -- the seq that added it: a message's reactions in order
    PRIMARY KEY (channel_id, seq, emoji)
);
