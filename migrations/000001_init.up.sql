-- trichat schema, version 1. golang-migrate layout; applied by `trichat migrate`.
CREATE TABLE channels (
    id               uuid PRIMARY KEY,
    name             text NOT NULL UNIQUE,
    description      text NOT NULL DEFAULT '',
    channel_type     text NOT NULL CHECK (channel_type IN ('public', 'private')),
    max_participants integer,
    is_active        boolean NOT NULL DEFAULT true,
    created_by       text NOT NULL,
    created_at       bigint NOT NULL,  -- epoch milliseconds
    updated_at       bigint NOT NULL,
    last_seq         bigint NOT NULL DEFAULT 0  -- the channel's sequencer
);

CREATE TABLE messages (
    channel_id   uuid NOT NULL REFERENCES channels (id),
    seq          bigint NOT NULL,
    message_id   text NOT NULL,
    user_id      text NOT NULL,
    username     text NOT NULL,
    display_name text,
    avatar_url   text,
    content      text NOT NULL,
    kind         text NOT NULL DEFAULT 'user',
    created_at   bigint NOT NULL,
    deleted_at   bigint,
    PRIMARY KEY (channel_id, seq),
    UNIQUE (channel_id, user_id, message_id)
);

CREATE TABLE members (
    channel_id uuid NOT NULL REFERENCES channels (id),
    user_id    text NOT NULL,
    added_by   text NOT NULL,
    added_at   bigint NOT NULL,
    PRIMARY KEY (channel_id, user_id)
);

CREATE TABLE bans (
    channel_id uuid NOT NULL REFERENCES channels (id),
    user_id    text NOT NULL,
    reason     text NOT NULL DEFAULT '',
    banned_by  text NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint,
    PRIMARY KEY (channel_id, user_id)
);

CREATE TABLE moderation_log (
    id         bigserial PRIMARY KEY,
    channel_id uuid NOT NULL,
    actor      text NOT NULL,
    action     text NOT NULL,
    target     text NOT NULL,
    detail     text NOT NULL DEFAULT '',
    created_at bigint NOT NULL
);
CREATE INDEX moderation_log_channel ON moderation_log (channel_id, id);
