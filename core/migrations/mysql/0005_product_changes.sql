-- A log of catalogue writes: one row per product inserted, edited, deleted or whose stock an
-- order took, so the admin's Republish reads the products changed since its last publish
-- instead of the whole catalogue. The admin prunes what it has published.
CREATE TABLE product_changes (
    seq        BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    product_id BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
