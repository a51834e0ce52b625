// node-postgres against lakegate (LAKEGATE_PORT): parameterized queries, types, errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";

const port = Number(process.env.LAKEGATE_PORT);

async function withClient(fn) {
  const client = new pg.Client({ host: "127.0.0.1", port, user: "demo", database: "lake" });
  await client.connect();
  try { await fn(client); } finally { await client.end(); }
}

test("parameterized query with typed results", () => withClient(async (c) => {
  const r = await c.query(
    "SELECT title_id, name, budget_usd, genres, details, release_date FROM silver.titles WHERE title_id = $1", [2]);
  assert.equal(r.rows.length, 1);
  const row = r.rows[0];
  assert.equal(row.title_id, 2);
  assert.equal(row.name, "Harbor Summer");
  assert.equal(row.budget_usd, "3142518.02"); // numeric comes back as a string in node-postgres
  assert.deepEqual(row.genres, ["documentary", "family"]);
  assert.deepEqual(row.details, { studio: "Paper Moon", language: "ja" });
  assert.ok(row.release_date instanceof Date);
  assert.deepEqual(r.fields.map((f) => f.dataTypeID), [23, 25, 1700, 1009, 3802, 1082]);
}));

test("int8 counts come back as strings, errors carry SQLSTATE", () => withClient(async (c) => {
  const r = await c.query("SELECT count(*) FROM silver.users");
  assert.equal(r.rows[0].count, "412");
  await assert.rejects(c.query("SELECT * FROM silver.nope"), (e) => e.code === "42P01");
  await assert.rejects(c.query("DELETE FROM silver.users"), (e) => e.code === "25006");
  const again = await c.query("SELECT 1 AS one");
  assert.equal(again.rows[0].one, 1); // int4, as Postgres types the literal
}));
