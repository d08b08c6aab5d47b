-- A product may sell through a waiting room that admits shoppers at a rate the admin sets
-- (0 pauses it). `queue` is 0 or 1; BIGINT like every other number here, because sqlx's Any
-- driver reads integers of one width.
ALTER TABLE products
    ADD COLUMN queue            BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN admit_per_second BIGINT NOT NULL DEFAULT 100 CHECK (admit_per_second >= 0);
