-- Shoppers, products and orders. Times are unix seconds (orders: milliseconds), money in cents.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    nick_name     TEXT    NOT NULL,
    user_name     TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE products (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    stock       INTEGER NOT NULL CHECK (stock >= 0),
    price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
    image       TEXT    NOT NULL DEFAULT '',
    description TEXT    NOT NULL DEFAULT '',
    sale_start  INTEGER NULL,
    sale_end    INTEGER NULL,
    updated_at  INTEGER NOT NULL
);

-- One order per shopper per product, and an order id is never inserted twice: a redelivered
-- message or a double click cannot make a second row.
CREATE TABLE orders (
    order_id   TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL,
    product_id INTEGER NOT NULL,
    status     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (user_id, product_id)
);
CREATE INDEX orders_by_product ON orders (product_id);
