-- The daily roll-up under the name readers use on both databases. On PostgreSQL the view adds
-- the changes still pending a fold (its migration 0007); SQLite's triggers write the roll-ups
-- at once, so here it is the table itself.
CREATE VIEW cron_stats_daily_live AS SELECT * FROM cron_stats_daily;
