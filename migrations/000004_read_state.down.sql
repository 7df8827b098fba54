-- Back to v2 (the channel log): markers and their counters go.
DROP TABLE IF EXISTS reads;
DROP TABLE IF EXISTS authors;
ALTER TABLE channels
    DROP COLUMN read_receipts,
    DROP COLUMN msg_total;
