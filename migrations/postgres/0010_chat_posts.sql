-- Posts the bot makes exactly once (outcomes, announcements): the intent is recorded
-- before the post and the post after it. A post left "in_flight" (the process died in
-- between) is looked for by its tag, this row's id, among the channel's recent messages
-- before it is posted again.
CREATE TABLE chat_posts (
    id         TEXT PRIMARY KEY,   -- the delivery's id, also the post's tag
    platform   TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    findable   BIGINT NOT NULL,    -- 1 when the post can be looked for by its tag
    state      TEXT NOT NULL,      -- 'in_flight' or 'posted'
    post_id    TEXT,               -- Slack's ts or Mattermost's post id, once known
    started_at TEXT NOT NULL,
    posted_at  TEXT
);
CREATE INDEX chat_posts_started ON chat_posts (started_at);
