-- Back to v1: the log's non-message events and the reactions go; messages stay
-- (a deleted message stays deleted, its text already erased).
DROP TABLE IF EXISTS reaction_counts;
DROP TABLE IF EXISTS reactions;
DELETE FROM messages WHERE event <> 'message';
DROP INDEX IF EXISTS messages_target;
DROP INDEX IF EXISTS messages_thread;
ALTER TABLE messages
    DROP COLUMN reaction_count,
    DROP COLUMN emoji,
    DROP COLUMN target_seq,
    DROP COLUMN event,
    DROP COLUMN last_reply_at,
    DROP COLUMN reply_count,
    DROP COLUMN edited_at,
    DROP COLUMN parent_seq;
