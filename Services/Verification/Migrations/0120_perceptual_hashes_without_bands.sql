-- The near-duplicate lookup runs in memory (PerceptualIndex, loaded from and caught up with this table); the SQL
-- lookup over the four band indexes was no longer used in production, yet every stored photo paid for four more
-- index entries (16-bit key plus hash and id) inside the near-duplicate lock. Measured with 1,000,000 stored
-- hashes: automatic checks through the consumer 1,273–1,373 submissions/s with the indexes, 1,396–1,755/s without.
-- The bands are computed from `hash` where they are needed.
DROP INDEX perceptual_hashes_band0;
DROP INDEX perceptual_hashes_band1;
DROP INDEX perceptual_hashes_band2;
DROP INDEX perceptual_hashes_band3;
ALTER TABLE perceptual_hashes DROP COLUMN band0, DROP COLUMN band1, DROP COLUMN band2, DROP COLUMN band3;
