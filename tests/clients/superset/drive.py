"""Drives a running Apache Superset through its REST API as a user does: log in, add lakegate as
a database, browse schemas, tables and columns, create a dataset from a lake table, create a
chart on it and fetch the chart's data. Prints one JSON line with what each step returned.

usage: drive.py SUPERSET_URL LAKEGATE_PORT SCHEMA TABLE GROUP_BY_COLUMN"""
import json
import sys

import requests

url, port, schema, table, column = sys.argv[1:6]
s = requests.Session()


def call(method, path, **kw):
    r = s.request(method, url + path, timeout=120, **kw)
    if r.status_code >= 400:
        raise SystemExit(f"{method} {path}: {r.status_code} {r.text[:2000]}")
    return r.json()


token = call("POST", "/api/v1/security/login",
             json={"username": "admin", "password": "admin", "provider": "db", "refresh": True})
s.headers["Authorization"] = f"Bearer {token['access_token']}"
s.headers["X-CSRFToken"] = call("GET", "/api/v1/security/csrf_token/")["result"]
s.headers["Referer"] = url

uri = f"postgresql+psycopg2://demo@127.0.0.1:{port}/lake"
name = f"lakegate {port}"
call("POST", "/api/v1/database/test_connection/", json={"sqlalchemy_uri": uri, "database_name": name})
db = call("POST", "/api/v1/database/", json={"database_name": name, "sqlalchemy_uri": uri,
                                             "expose_in_sqllab": True})["id"]
schemas = call("GET", f"/api/v1/database/{db}/schemas/")["result"]
q = f"(schema_name:{schema},force:!t)"
tables = [t["value"] for t in call("GET", f"/api/v1/database/{db}/tables/", params={"q": q})["result"]]
meta = call("GET", f"/api/v1/database/{db}/table_metadata/", params={"name": table, "schema": schema})
columns = [c["name"] for c in meta["columns"]]
dataset = call("POST", "/api/v1/dataset/", json={"database": db, "schema": schema, "table_name": table})["id"]
ds = call("GET", f"/api/v1/dataset/{dataset}")["result"]
dataset_columns = sorted(c["column_name"] for c in ds["columns"])
params = {"viz_type": "table", "groupby": [column], "metrics": ["count"], "row_limit": 1000,
          "datasource": f"{dataset}__table"}
chart = call("POST", "/api/v1/chart/", json={"slice_name": f"{table} by {column}", "viz_type": "table",
                                             "datasource_id": dataset, "datasource_type": "table",
                                             "params": json.dumps(params)})["id"]
data = call("POST", "/api/v1/chart/data", json={
    "datasource": {"id": dataset, "type": "table"},
    "queries": [{"columns": [column], "metrics": ["count"], "orderby": [[column, True]], "row_limit": 1000}],
    "result_format": "json", "result_type": "full",
})
rows = data["result"][0]["data"]
sqllab = call("POST", "/api/v1/sqllab/execute/", json={
    "database_id": db, "sql": f"SELECT count(*) AS n FROM {schema}.{table}", "runAsync": False, "schema": schema})
print(json.dumps({
    "schemas": schemas, "tables": tables, "columns": columns, "dataset_columns": dataset_columns,
    "chart": chart, "chart_rows": {str(r[column]): r["count"] for r in rows},
    "sqllab_count": sqllab["data"][0]["n"],
}))
