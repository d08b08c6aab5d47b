-- The embedded order queue (queue_url = "memory:"): the gateway answers 202 only once the
-- order is committed here; the in-process worker records it in `orders` and deletes it.
-- `dead_reason` is set on an order the worker gave up on (the dead-letter queue).
CREATE TABLE outbox (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id    TEXT    NOT NULL UNIQUE,
    user_id     INTEGER NOT NULL,
    product_id  INTEGER NOT NULL,
    accepted_at INTEGER NOT NULL,
    dead_reason TEXT    NULL
);
CREATE INDEX outbox_by_product ON outbox (product_id);

-- Back-office logins, so a restart does not log the staff out. The token is stored as its
-- SHA-256 (hex): the table holds nothing a cookie could be made from. Expiry: unix seconds.
CREATE TABLE admin_sessions (
    token_hash TEXT    PRIMARY KEY,
    user_name  TEXT    NOT NULL,
    csrf       TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX admin_sessions_by_expiry ON admin_sessions (expires_at);
