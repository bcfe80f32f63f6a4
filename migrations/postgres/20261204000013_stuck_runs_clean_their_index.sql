-- Stuck runs read through the running runs' index one entry at a time (issue 14).
--
-- Every run enters the partial index of running runs when it starts and leaves the table's
-- live rows when it ends, but its index entry stays until a vacuum, and autovacuum waits for a
-- fifth of the table to be dead: on a table of 10 million runs, two million runs ended since.
-- The planner read that index with a bitmap scan, which visits the heap page of every entry,
-- dead or alive, and marks none: after 300,000 runs were written onto a history of 10 million
-- (wrk, one event a request), the 282 running runs cost 124,000 heap pages and 820 ms a read,
-- and the sweep (every 10 s), the stuck-run notifications and the statistics read them so.
-- A plain index scan marks each dead entry it meets, so a read visits only the runs ended since
-- the read before; the next reads skip them (8.5-9.5 ms on the same data, most of it walking
-- index pages, which inserts reclaim as they split). The running runs are therefore always
-- read through their index, one entry at a time, small table or large. A later
-- `CREATE OR REPLACE FUNCTION` of it drops these settings: the test
-- `store_batch::reading_stuck_runs_marks_ended_runs_dead_in_their_index` would then fail.
ALTER FUNCTION cronmon.detect_stuck_crons() SET enable_bitmapscan = off;
ALTER FUNCTION cronmon.detect_stuck_crons() SET enable_seqscan = off;
