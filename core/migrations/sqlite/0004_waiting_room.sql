-- A product may sell through a waiting room that admits shoppers at a rate the admin sets
-- (0 pauses it).
ALTER TABLE products ADD COLUMN queue INTEGER NOT NULL DEFAULT 0;
ALTER TABLE products ADD COLUMN admit_per_second INTEGER NOT NULL DEFAULT 100 CHECK (admit_per_second >= 0);
