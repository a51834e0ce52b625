-- Titles ranked by total watch time over the whole event history.
SELECT t.title_id,
       t.name,
       t.kind,
       CAST(SUM(e.seconds_watched) AS DOUBLE) / 3600.0 AS hours_watched,
       COUNT(DISTINCT e.user_id) AS viewers
FROM silver.watch_events e
JOIN silver.titles t ON t.title_id = e.title_id
GROUP BY t.title_id, t.name, t.kind
