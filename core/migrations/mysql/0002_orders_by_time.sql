-- The admin lists orders newest first, page by page, and counts sales per minute: both read
-- orders by time.
CREATE INDEX orders_by_time ON orders (created_at);
