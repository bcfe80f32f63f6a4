-- All crons together per UTC day, under the name readers use on both databases (on PostgreSQL a
-- table kept by the fold, its migration 0008). SQLite's scale is one machine's jobs: a view.
CREATE VIEW cron_stats_days_live AS
SELECT day, sum(started) AS started, sum(completed) AS completed, sum(failed) AS failed
FROM cron_stats_daily
GROUP BY day;
