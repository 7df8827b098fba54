-- When each user was last present in each channel (across all instances): written
-- when a user's presence starts and ends, read by GET /channels/{id}/presence?include=offline.
CREATE TABLE presence (
    channel_id uuid NOT NULL REFERENCES channels (id),
    user_id    text NOT NULL,
    username   text NOT NULL,
    last_seen  bigint NOT NULL,  -- epoch ms
    PRIMARY KEY (channel_id, user_id)
);
CREATE INDEX presence_recent ON presence (channel_id, last_seen DESC);
