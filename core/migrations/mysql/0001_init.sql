-- Shoppers, products and orders. Times are unix seconds (orders: milliseconds), money in cents.
CREATE TABLE users (
    id            BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    nick_name     VARCHAR(64)  NOT NULL,
    user_name     VARCHAR(64)  NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    created_at    BIGINT       NOT NULL,
    UNIQUE KEY users_by_name (user_name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE products (
    id          BIGINT        NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name        VARCHAR(255)  NOT NULL,
    stock       BIGINT        NOT NULL CHECK (stock >= 0),
    price_cents BIGINT        NOT NULL CHECK (price_cents >= 0),
    image       VARCHAR(1024) NOT NULL DEFAULT '',
    description VARCHAR(4096) NOT NULL DEFAULT '',
    sale_start  BIGINT        NULL,
    sale_end    BIGINT        NULL,
    updated_at  BIGINT        NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- One order per shopper per product, and an order id is never inserted twice: a redelivered
-- message or a double click cannot make a second row.
CREATE TABLE orders (
    order_id   CHAR(32)    NOT NULL PRIMARY KEY,
    user_id    BIGINT      NOT NULL,
    product_id BIGINT      NOT NULL,
    status     VARCHAR(16) NOT NULL,
    created_at BIGINT      NOT NULL,
    UNIQUE KEY orders_one_per_shopper (user_id, product_id),
    KEY orders_by_product (product_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
