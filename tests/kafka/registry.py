"""A Confluent schema registry's REST API, enough for producers and lakegate: subjects,
versions, schemas by id, and compatibility left to the producer (no server installs here:
karapace is not on PyPI). Schemas live in memory for the life of the process.

    python registry.py PORT
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
schemas = {}  # id -> {"schema": str, "schemaType": str}
subjects = {}  # subject -> [id, ...] (version = index + 1)
next_id = [1]


def canonical(s):
    try:
        return json.dumps(json.loads(s), sort_keys=True, separators=(",", ":"))
    except ValueError:
        return s


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def not_found(self, what, code):
        self.reply(404, {"error_code": code, "message": f"{what} not found"})

    def do_GET(self):
        parts = [p for p in self.path.split("?")[0].split("/") if p]
        with lock:
            if parts[:2] == ["schemas", "ids"] and len(parts) >= 3:
                sid = int(parts[2])
                if sid not in schemas:
                    return self.not_found("Schema", 40403)
                s = schemas[sid]
                if len(parts) == 4 and parts[3] == "schema":
                    return self.reply(200, json.loads(s["schema"]))
                body = {"schema": s["schema"]}
                if s["schemaType"] != "AVRO":
                    body["schemaType"] = s["schemaType"]
                return self.reply(200, body)
            if parts == ["subjects"]:
                return self.reply(200, sorted(subjects))
            if parts[:1] == ["subjects"] and len(parts) >= 3 and parts[2] == "versions":
                ids = subjects.get(parts[1])
                if ids is None:
                    return self.not_found("Subject", 40401)
                if len(parts) == 3:
                    return self.reply(200, list(range(1, len(ids) + 1)))
                v = len(ids) if parts[3] == "latest" else int(parts[3])
                if not 1 <= v <= len(ids):
                    return self.not_found("Version", 40402)
                sid = ids[v - 1]
                return self.reply(200, {"subject": parts[1], "version": v, "id": sid,
                                        "schema": schemas[sid]["schema"]})
            if parts[:1] == ["config"]:
                return self.reply(200, {"compatibilityLevel": "BACKWARD"})
        self.not_found("Path", 404)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(n) or b"{}")
        parts = [p for p in self.path.split("?")[0].split("/") if p]
        if parts[:1] == ["subjects"] and len(parts) >= 2:
            subject = parts[1]
            schema = body["schema"]
            stype = body.get("schemaType", "AVRO")
            with lock:
                found = next((i for i, s in schemas.items()
                              if canonical(s["schema"]) == canonical(schema)
                              and s["schemaType"] == stype), None)
                if len(parts) == 3 and parts[2] == "versions":
                    if found is None:
                        found = next_id[0]
                        next_id[0] += 1
                        schemas[found] = {"schema": schema, "schemaType": stype}
                    ids = subjects.setdefault(subject, [])
                    if found not in ids:
                        ids.append(found)
                    return self.reply(200, {"id": found})
                if len(parts) == 2:  # lookup
                    ids = subjects.get(subject, [])
                    if found in ids:
                        return self.reply(200, {"subject": subject, "id": found,
                                                "version": ids.index(found) + 1, "schema": schema})
                    return self.not_found("Schema", 40403)
        self.not_found("Path", 404)

    do_PUT = do_POST


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    print("registry ready", flush=True)
    server.serve_forever()
