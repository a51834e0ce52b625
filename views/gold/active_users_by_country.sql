-- Built on another view: silver.active_users.
SELECT country, COUNT(*) AS active_users
FROM silver.active_users
GROUP BY country
