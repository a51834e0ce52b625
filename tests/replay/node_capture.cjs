// node-postgres against the capture server of capture.sh: node node_capture.cjs PORT USER DB
const pg = require("pg");
const [port, user, database] = process.argv.slice(2);
(async () => {
  const c = new pg.Client({ host: "127.0.0.1", port: Number(port), user, database, application_name: "node-postgres" });
  await c.connect();
  await c.query("SELECT user_id, email, languages, preferences FROM silver.users WHERE user_id = $1", [2]);
  await c.query({ text: "SELECT count(*) AS n FROM silver.titles WHERE kind = $1", values: ["movie"] });
  await c.end();
})();
