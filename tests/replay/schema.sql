-- The demo lake's silver.users and silver.titles as PostgreSQL tables: the objects the captured
-- client statements introspect, so a real PostgreSQL 15 and lakegate answer about the same
-- catalog (tests/it/replay.rs; tests/replay/capture.sh).
CREATE SCHEMA silver;
CREATE TABLE silver.users (
    user_id bigint NOT NULL,
    email text NOT NULL,
    country text,
    signup_date date,
    birth_year smallint,
    is_active boolean,
    preferences jsonb,
    languages text[]
);
CREATE TABLE silver.titles (
    title_id integer NOT NULL,
    name text NOT NULL,
    kind text NOT NULL,
    release_date date,
    runtime_minutes smallint,
    maturity_rating smallint,
    avg_rating real,
    budget_usd numeric(14,2),
    poster_thumb bytea,
    genres text[],
    details jsonb
);
-- The rest of the demo's silver zone and its other schemas, so listings of schemas and of
-- silver's relations name the same objects (their rows are not compared).
CREATE TABLE silver.subscriptions (
    subscription_id bigint NOT NULL,
    user_id bigint NOT NULL,
    plan text NOT NULL,
    monthly_price numeric(6,2) NOT NULL,
    started_at timestamptz NOT NULL,
    ended_at timestamptz,
    is_trial boolean NOT NULL
);
CREATE TABLE silver.watch_events (
    event_id bigint NOT NULL,
    user_id bigint NOT NULL,
    title_id integer NOT NULL,
    event_date date NOT NULL,
    event_ts timestamptz NOT NULL,
    local_ts timestamp,
    seconds_watched integer NOT NULL,
    device text NOT NULL,
    completed boolean NOT NULL
);
CREATE VIEW silver.active_users AS
    SELECT user_id, email, country, signup_date FROM silver.users WHERE is_active;
CREATE SCHEMA bronze;
CREATE SCHEMA gold;
CREATE SCHEMA lakegate;
-- The comments lakegate serves from views/silver/active_users.yaml.
COMMENT ON VIEW silver.active_users IS 'Users whose account is active (not paused or closed).';
COMMENT ON COLUMN silver.active_users.user_id IS 'Stable user identifier.';
COMMENT ON COLUMN silver.active_users.country IS 'ISO 3166-1 alpha-2 country of the billing address.';
