"""A small Iceberg REST catalog server for the tests (no REST catalog installs here): the read
side of the REST spec (config, namespaces, tables, load table, OAuth2 client credentials) over
a pyiceberg SqlCatalog on sqlite. Every route but the token endpoint needs the bearer token.

usage: iceberg_rest.py ROOT TOKEN CLIENT_ID:SECRET   (prints the port, then serves)"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

root, token, credential = sys.argv[1], sys.argv[2], sys.argv[3]
catalog = SqlCatalog("lakecat", uri=f"sqlite:///{root}/catalog.db", warehouse=f"file://{root}/warehouse")


def error(code, kind, message):
    return code, {"error": {"message": message, "type": kind, "code": code}}


def namespace(part):
    # Multi-level namespaces are joined with the unit separator in paths.
    return tuple(unquote(part).split("\x1f"))


def route(method, path, query, form):
    parts = [p for p in path.split("/") if p]
    if parts[:1] != ["v1"]:
        return error(404, "NotFoundException", path)
    parts = parts[1:]
    if parts == ["config"]:
        return 200, {"defaults": {}, "overrides": {}}
    if parts == ["namespaces"]:
        parent = query.get("parent", [None])[0]
        found = catalog.list_namespaces(namespace(parent) if parent else ())
        return 200, {"namespaces": [list(n) for n in found]}
    if len(parts) >= 2 and parts[0] == "namespaces":
        ns = namespace(parts[1])
        try:
            if len(parts) == 2:
                return 200, {"namespace": list(ns), "properties": catalog.load_namespace_properties(ns)}
            if parts[2:] == ["tables"]:
                return 200, {"identifiers": [{"namespace": list(t[:-1]), "name": t[-1]} for t in catalog.list_tables(ns)]}
            if len(parts) == 4 and parts[2] == "tables":
                t = catalog.load_table(ns + (unquote(parts[3]),))
                with open(t.metadata_location.removeprefix("file://")) as f:
                    metadata = json.load(f)
                return 200, {"metadata-location": t.metadata_location, "metadata": metadata, "config": {}}
        except NoSuchNamespaceError as e:
            return error(404, "NoSuchNamespaceException", str(e))
        except NoSuchTableError as e:
            return error(404, "NoSuchTableException", str(e))
    return error(404, "NotFoundException", path)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, code, body):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def handle_one(self):
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        if url.path == "/v1/oauth/tokens":
            form = {k: v[0] for k, v in parse_qs(body).items()}
            if f"{form.get('client_id')}:{form.get('client_secret')}" != credential:
                return self.reply(401, {"error": "invalid_client", "error_description": "bad client credentials"})
            return self.reply(200, {
                "access_token": token,
                "token_type": "bearer",
                "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "expires_in": 3600,
            })
        if self.headers.get("Authorization") != f"Bearer {token}":
            code, out = error(401, "NotAuthorizedException", "missing or wrong bearer token")
            return self.reply(code, out)
        code, out = route(self.command, url.path, parse_qs(url.query), body)
        self.reply(204 if self.command == "HEAD" and code == 200 else code, out)

    do_GET = do_HEAD = do_POST = handle_one


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
