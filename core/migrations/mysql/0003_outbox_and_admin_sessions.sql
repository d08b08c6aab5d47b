-- The embedded order queue (queue_url = "memory:"): the gateway answers 202 only once the
-- order is committed here; the in-process worker records it in `orders` and deletes it.
-- `dead_reason` is set on an order the worker gave up on (the dead-letter queue).
CREATE TABLE outbox (
    seq         BIGINT        NOT NULL AUTO_INCREMENT PRIMARY KEY,
    order_id    CHAR(32)      NOT NULL,
    user_id     BIGINT        NOT NULL,
    product_id  BIGINT        NOT NULL,
    accepted_at BIGINT        NOT NULL,
    dead_reason VARCHAR(4096) NULL,
    UNIQUE KEY outbox_by_order (order_id),
    KEY outbox_by_product (product_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Back-office logins, so a restart does not log the staff out. The token is stored as its
-- SHA-256 (hex): the table holds nothing a cookie could be made from. Expiry: unix seconds.
CREATE TABLE admin_sessions (
    token_hash CHAR(64)     NOT NULL PRIMARY KEY,
    user_name  VARCHAR(255) NOT NULL,
    csrf       CHAR(64)     NOT NULL,
    expires_at BIGINT       NOT NULL,
    KEY admin_sessions_by_expiry (expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
