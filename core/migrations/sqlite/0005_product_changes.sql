-- A log of catalogue writes: one row per product inserted, edited, deleted or whose stock an
-- order took, so the admin's Republish reads the products changed since its last publish
-- instead of the whole catalogue. The admin prunes what it has published.
CREATE TABLE product_changes (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id INTEGER NOT NULL
);
