"""A fake PagerDuty over HTTPS on loopback, for the real ``pagerduty`` 7.x client.

The client refuses plain-http base URLs (wire-formats §3.2), so the fake speaks TLS with a
certificate made at test time by the ``openssl`` CLI: a throw-away CA and a server
certificate for ``127.0.0.1``/``localhost`` signed by it, in a temporary directory removed at
exit. Point ``INCIDENTS_PAGERDUTY_CA_BUNDLE`` at the yielded CA file to trust it.

Endpoints:

- ``POST /v2/enqueue``: records every body and its headers in ``state.events``; answers 202
  like PagerDuty, or the captured 400 body when ``routing_key`` is not 32 characters.
- ``GET /services/{id}`` and ``GET /oncalls``: REST API v2 answers built from
  ``state.services`` (id → service object) and ``state.oncalls`` (on-call objects with the
  user in full, as with ``include[]=users``); ``/oncalls`` honours ``escalation_policy_ids[]``,
  ``include[]=users``, ``earliest=true`` and ``limit``/``offset`` pagination. Both need
  ``Authorization: Token token=<API_TOKEN>``. Build the objects with ``service()`` and
  ``on_call()``, which follow the documented shapes; REST error bodies follow the documented
  ``{"error": {"message", "code", "errors"}}`` shape, with codes that are illustrative.

``state.fail(path, status=..., body=..., retry_after=...)`` makes the next request to that
path (or below it: ``"/services"`` covers ``/services/P1``) answer with the scripted failure.
"""

from __future__ import annotations

import json
import secrets
import ssl
import subprocess
import tempfile
import threading
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.payloads import load

API_TOKEN = "y_NbAkKc66ryYTWUXYEu"  # the shape of a REST API token; fake
ROUTING_KEY = "0123456789abcdef0123456789abcdef"  # 32 characters, as PagerDuty requires
API = "https://api.pagerduty.com"  # what the "self" links of real objects point at
OPENSSL = "/usr/bin/openssl"
INVALID_ROUTING_KEY = "pagerduty/events_v2_response_400_invalid_event.json"
PARSE_ERROR = "pagerduty/events_v2_response_error_openapi_example.json"


@dataclass(frozen=True)
class Received:
    """One request to ``/v2/enqueue``: its JSON body, headers, and the status answered."""

    body: Any
    headers: dict[str, str]
    status: int


@dataclass(frozen=True)
class Failure:
    """A scripted answer for the next request to a path."""

    path: str
    status: int
    body: Any
    retry_after: str | None


@dataclass
class PagerDutyState:
    """What the fake knows and what it was sent."""

    api_token: str = API_TOKEN
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    oncalls: list[dict[str, Any]] = field(default_factory=list)
    events: list[Received] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # "GET /oncalls?…", in order
    failures: list[Failure] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(
        self, path: str, *, status: int, body: Any = None, retry_after: float | str | None = None
    ) -> None:
        """Make the next request to `path` (or below it) answer `status` once."""
        after = None if retry_after is None else str(retry_after)
        self.failures.append(Failure(path, status, body, after))

    def count(self, path: str) -> int:
        """Return how many requests reached `path` (or below it)."""
        return sum(1 for line in self.requests if _under(line.split(" ", 1)[1], path))

    def accepted(self) -> list[Received]:
        """Return the events PagerDuty would have processed (answered 202)."""
        return [event for event in self.events if event.status == 202]


def service(service_id: str, *, name: str, escalation_policy_id: str) -> dict[str, Any]:
    """Return a service object as ``GET /services/{id}`` wraps it in ``service``."""
    return {
        "id": service_id,
        "type": "service",
        "summary": name,
        "self": f"{API}/services/{service_id}",
        "html_url": f"https://example.pagerduty.com/service-directory/{service_id}",
        "name": name,
        "description": None,
        "status": "active",
        "escalation_policy": _reference("escalation_policy", escalation_policy_id, "Policy"),
        "teams": [],
        "alert_creation": "create_alerts_and_incidents",
    }


def on_call(
    *,
    user_id: str,
    name: str,
    email: str,
    level: int,
    escalation_policy_id: str,
    schedule: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, Any]:
    """Return an on-call object, user in full (``include[]=users``); no schedule = direct."""
    user = {
        **_reference("user", user_id, name),
        "type": "user",
        "name": name,
        "email": email,
        "time_zone": "Europe/Berlin",
        "role": "user",
        "job_title": None,
        "teams": [],
    }
    return {
        "escalation_policy": _reference("escalation_policy", escalation_policy_id, "Policy"),
        "escalation_level": level,
        "schedule": _reference("schedule", _id_for(schedule), schedule) if schedule else None,
        "user": user,
        "start": start.isoformat() if start else None,
        "end": end.isoformat() if end else None,
    }


def _reference(kind: str, object_id: str, summary: str) -> dict[str, Any]:
    """Return a ``<kind>_reference`` object."""
    plural = "escalation_policies" if kind == "escalation_policy" else f"{kind}s"
    return {
        "id": object_id,
        "type": f"{kind}_reference",
        "summary": summary,
        "self": f"{API}/{plural}/{object_id}",
        "html_url": f"https://example.pagerduty.com/{plural}/{object_id}",
    }


def _id_for(name: str) -> str:
    """Return a stable PagerDuty-like id for a name."""
    return f"P{zlib.crc32(name.encode()):08X}"[:7]


def _under(target: str, path: str) -> bool:
    """Tell whether a request target is `path` or below it (query string ignored)."""
    bare = target.split("?", 1)[0]
    return bare == path or bare.startswith(path.rstrip("/") + "/")


class _Handler(BaseHTTPRequestHandler):
    state: PagerDutyState

    def log_message(self, *_args: Any) -> None:
        """Keep the test output quiet."""

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        with self.state.lock:
            status, body, headers = self._route("POST", raw)
        self._send(status, body, headers)

    def do_GET(self) -> None:
        with self.state.lock:
            status, body, headers = self._route("GET", b"")
        self._send(status, body, headers)

    def _route(self, method: str, raw: bytes) -> tuple[int, Any, dict[str, str]]:
        """Record the request, then answer it: scripted failure first, else the endpoint."""
        self.state.requests.append(f"{method} {self.path}")
        answer = self._scripted()
        target = urlsplit(self.path)
        if method == "POST" and target.path == "/v2/enqueue":
            if answer is None:
                answer = _enqueue(raw)
            self._record(raw, answer[0])
            return answer
        if answer is not None:
            return answer
        if method != "GET" or not target.path.startswith(("/services/", "/oncalls")):
            return 404, _rest_error(404, "Not Found"), {}
        if self.headers.get("authorization") != f"Token token={self.state.api_token}":
            return 401, _rest_error(401, "Unauthorized"), {}
        if target.path == "/oncalls":
            return 200, _oncalls(self.state, parse_qs(target.query)), {}
        found = self.state.services.get(target.path.removeprefix("/services/"))
        if found is None:
            return 404, _rest_error(404, "Not Found", "Service not found"), {}
        return 200, {"service": found}, {}

    def _scripted(self) -> tuple[int, Any, dict[str, str]] | None:
        """Return and consume the first scripted failure for this path."""
        for index, failure in enumerate(self.state.failures):
            if _under(self.path, failure.path):
                del self.state.failures[index]
                headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
                body = failure.body
                if body is None:
                    body = _default_error(failure.path, failure.status)
                return failure.status, body, headers
        return None

    def _record(self, raw: bytes, status: int) -> None:
        """Keep an event's body (decoded when it is JSON) and headers."""
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.state.events.append(Received(body=body, headers=headers, status=status))

    def _send(self, status: int, body: Any, headers: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _enqueue(raw: bytes) -> tuple[int, Any, dict[str, str]]:
    """Answer an Events API v2 event like PagerDuty does."""
    try:
        event = json.loads(raw)
    except ValueError:
        return 400, load(PARSE_ERROR), {}
    if not isinstance(event, dict) or len(str(event.get("routing_key") or "")) != 32:
        return 400, load(INVALID_ROUTING_KEY), {}
    dedup_key = event.get("dedup_key") or uuid.uuid4().hex
    return 202, {"status": "success", "message": "Event processed", "dedup_key": dedup_key}, {}


def _oncalls(state: PagerDutyState, query: dict[str, list[str]]) -> dict[str, Any]:
    """Answer ``GET /oncalls``: filter, collapse (earliest), expand users, paginate."""
    policies = set(query.get("escalation_policy_ids[]", []))
    entries = [e for e in state.oncalls if not policies or e["escalation_policy"]["id"] in policies]
    if query.get("earliest", ["false"])[0] == "true":
        entries = _earliest(entries)
    if "users" not in query.get("include[]", []):
        entries = [{**e, "user": _reference("user", e["user"]["id"], e["user"]["name"])}
                   for e in entries]  # fmt: skip
    limit = int(query.get("limit", ["25"])[0])
    offset = int(query.get("offset", ["0"])[0])
    page = entries[offset : offset + limit]
    total = len(entries) if query.get("total", ["false"])[0] == "true" else None
    more = offset + len(page) < len(entries)
    return {"oncalls": page, "limit": limit, "offset": offset, "more": more, "total": total}


def _earliest(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep the earliest entry per escalation policy, level and user (``earliest=true``)."""
    kept: dict[tuple[str, int, str], dict[str, Any]] = {}
    for entry in entries:
        key = (entry["escalation_policy"]["id"], entry["escalation_level"], entry["user"]["id"])
        current = kept.get(key)
        if current is None or (entry["start"] or "") < (current["start"] or ""):
            kept[key] = entry
    return list(kept.values())


def _rest_error(status: int, message: str, *errors: str) -> dict[str, Any]:
    """Return a REST API v2 error body (documented shape; the code is illustrative)."""
    return {"error": {"message": message, "code": 2000 + status, "errors": list(errors)}}


def _default_error(path: str, status: int) -> dict[str, Any]:
    """Return the body of a scripted failure that did not give one."""
    phrase = HTTPStatus(status).phrase
    if path.startswith("/v2/"):
        return {"status": phrase, "message": phrase, "errors": []}
    return _rest_error(status, phrase)


class _TLSServer(ThreadingHTTPServer):
    """A threading HTTP server that does the TLS handshake in each request's thread."""

    daemon_threads = True
    tls: ssl.SSLContext

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(10)
        try:
            connection = self.tls.wrap_socket(request, server_side=True)
        except OSError:  # the client refused our certificate (or hung up)
            return
        with connection:
            super().finish_request(connection, client_address)


def _openssl(*args: str | Path) -> None:
    """Run the openssl CLI, failing with its own message."""
    done = subprocess.run([OPENSSL, *map(str, args)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {done.stderr.strip()}")


OPENSSL_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = incidents fake PagerDuty test CA
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """Make a CA and a server certificate for 127.0.0.1 signed by it; return CA, cert, key."""
    config = folder / "openssl.cnf"
    config.write_text(OPENSSL_CONFIG)
    ca_key, ca_cert = folder / "ca.key", folder / "ca.pem"
    key, request, cert = folder / "server.key", folder / "server.csr", folder / "server.pem"
    new_key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", "-config", config, "-extensions", "ca", *new_key,
             "-keyout", ca_key, "-out", ca_cert, "-days", "2")  # fmt: skip
    _openssl("req", "-new", "-config", config, *new_key, "-subj", "/CN=127.0.0.1",
             "-keyout", key, "-out", request)  # fmt: skip
    _openssl("x509", "-req", "-in", request, "-CA", ca_cert, "-CAkey", ca_key,
             "-set_serial", f"0x{secrets.token_hex(8)}", "-days", "2", "-sha256",
             "-extfile", config, "-extensions", "server", "-out", cert)  # fmt: skip
    return ca_cert, cert, key


@contextmanager
def fake_pagerduty() -> Iterator[tuple[str, Path, PagerDutyState]]:
    """Run the fake on https://127.0.0.1:<free port>; yield its base URL, CA file and state."""
    state = PagerDutyState()
    with tempfile.TemporaryDirectory(prefix="fake-pagerduty-") as folder:
        ca_cert, cert, key = make_certificates(Path(folder))
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert, key)
        handler = type("Handler", (_Handler,), {"state": state})
        server = _TLSServer(("127.0.0.1", 0), handler)
        server.tls = tls
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"https://127.0.0.1:{server.server_address[1]}", ca_cert, state
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)
