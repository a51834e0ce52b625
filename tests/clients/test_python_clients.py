"""Real Python drivers against a running lakegate serving the demo lake (LAKEGATE_PORT).

Run by tests/clients/run.sh; asserts answers (schemas, tables, column types, values), not only
that no error came back.
"""
import asyncio
import decimal
import os

import pytest

PORT = int(os.environ["LAKEGATE_PORT"])
DSN = f"postgresql://demo@127.0.0.1:{PORT}/lake"

TITLES_COLUMNS = [
    ("title_id", "INTEGER", False), ("name", "TEXT", False), ("kind", "TEXT", False),
    ("release_date", "DATE", True), ("runtime_minutes", "SMALLINT", True),
    ("maturity_rating", "SMALLINT", True), ("avg_rating", "REAL", True),
    ("budget_usd", "NUMERIC(14, 2)", True), ("poster_thumb", "BYTEA", True),
    ("genres", "ARRAY", True), ("details", "JSONB", True),
]


@pytest.mark.parametrize("driver", ["psycopg2", "psycopg"])
def test_sqlalchemy_inspector_browses_the_lake(driver):
    import sqlalchemy as sa

    engine = sa.create_engine(f"postgresql+{driver}://demo@127.0.0.1:{PORT}/lake")
    insp = sa.inspect(engine)
    assert {"bronze", "silver", "gold", "public"} <= set(insp.get_schema_names())
    assert insp.get_table_names(schema="silver") == ["subscriptions", "titles", "users", "watch_events"]
    assert "top_titles" in insp.get_view_names(schema="gold")
    cols = [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns("titles", schema="silver")]
    assert cols == TITLES_COLUMNS
    assert insp.get_pk_constraint("titles", schema="silver")["constrained_columns"] == []
    assert insp.get_foreign_keys("titles", schema="silver") == []
    assert insp.get_indexes("titles", schema="silver") == []
    assert "FROM silver.watch_events" in insp.get_view_definition("top_titles", schema="gold")
    view_cols = {c["name"]: c for c in insp.get_columns("top_titles", schema="gold")}
    assert view_cols["hours_watched"]["comment"] == "Sum of seconds watched, in hours."
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT plan, monthly_recurring_revenue FROM gold.plan_revenue "
                    "WHERE active_subscriptions > :n ORDER BY plan"), {"n": 80}).fetchall()
        assert rows == [("basic", decimal.Decimal("822.97")), ("premium", decimal.Decimal("1939.03"))]
        version = conn.execute(sa.text("SELECT version()")).scalar()
        assert version.startswith("PostgreSQL 16.6")


def test_psycopg3_named_prepared_statements_and_types():
    import datetime
    import psycopg

    with psycopg.connect(DSN) as conn:
        for user_id in (1, 2, 3):
            row = conn.execute("SELECT email, signup_date, languages, preferences FROM silver.users "
                               "WHERE user_id = %s", (user_id,), prepare=True).fetchone()
            assert row[0] == f"user{user_id}@example.com"
            assert isinstance(row[1], datetime.date)
            assert row[2][0] == "en"
            assert set(row[3]) == {"subtitles", "quality"}
        # A Python list bound to = ANY(%s): psycopg sends ints as a typed array, strs as an
        # untyped array literal (the answers match PostgreSQL's for the same statements).
        ids = [1, 2, 3, 999999]
        assert conn.execute("SELECT count(*) FROM silver.users WHERE user_id = ANY(%s)", (ids,)).fetchone()[0] == 3
        emails = ["user1@example.com", "user2@example.com", "nobody, \"quoted\""]
        assert conn.execute("SELECT count(*) FROM silver.users WHERE email = ANY(%s)", (emails,)).fetchone()[0] == 2
        ts = conn.execute("SELECT started_at FROM silver.subscriptions WHERE subscription_id = 7").fetchone()[0]
        assert ts == datetime.datetime(2023, 12, 6, 11, 5, 5, tzinfo=datetime.timezone.utc)


def test_pandas_read_sql():
    import pandas as pd
    import sqlalchemy as sa

    engine = sa.create_engine(f"postgresql+psycopg2://demo@127.0.0.1:{PORT}/lake")
    df = pd.read_sql("SELECT country, active_users FROM gold.active_users_by_country ORDER BY country", engine)
    assert list(df.columns) == ["country", "active_users"]
    assert len(df) == 8 and df["active_users"].sum() > 300


def test_asyncpg_binary_protocol():
    import asyncpg

    async def run():
        conn = await asyncpg.connect(DSN)
        try:
            rows = await conn.fetch(
                "SELECT title_id, name, budget_usd, genres FROM silver.titles WHERE title_id <= $1 ORDER BY title_id", 3)
            assert [r["title_id"] for r in rows] == [1, 2, 3]
            assert rows[0]["budget_usd"] == decimal.Decimal("3006805.01")
            assert rows[1]["genres"] == ["documentary", "family"]
            # Arrays other than text[] make asyncpg introspect their type first (its
            # WITH RECURSIVE typeinfo_tree query, `$1::oid[]` bound): int8[], float8[], and
            # a date column beside them, against the rows fetched above.
            row = await conn.fetchrow(
                "SELECT array_agg(title_id ORDER BY title_id) AS ids, "
                "array_agg(budget_usd::float8 ORDER BY title_id) AS budgets "
                "FROM silver.titles WHERE title_id <= $1", 3)
            assert row["ids"] == [1, 2, 3]
            assert row["budgets"] == [float(r["budget_usd"]) for r in rows]
            types = await conn.fetch(
                "SELECT t.typname FROM pg_type t WHERE t.oid = any($1::oid[]) ORDER BY t.oid", [20, 1016])
            assert [t["typname"] for t in types] == ["int8", "_int8"]
            stmt = await conn.prepare("SELECT count(*) FROM silver.watch_events WHERE event_date = $1")
            import datetime
            assert await stmt.fetchval(datetime.date(2024, 6, 3)) > 0
            # set_config, as PostgreSQL answers it; the session sees the new value.
            assert await conn.fetchval("SELECT set_config('application_name', 'asyncpg-test', false)") == "asyncpg-test"
            assert await conn.fetchval("SHOW application_name") == "asyncpg-test"
        finally:
            await conn.close()

    asyncio.run(run())
