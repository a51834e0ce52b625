-- Users who can currently log in, with their preferred quality setting.
SELECT user_id, email, country, signup_date
FROM silver.users
WHERE is_active
