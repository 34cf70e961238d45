"""A fake Slack Web API on loopback for the real ``slack_sdk`` client (wire-formats §4.6).

It keeps a small workspace (channels, members, messages with metadata), answers the
methods the bot uses, and plays scripted failures: ``fail(method, status, error,
retry_after)`` makes the next call of `method` fail once.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

TOKEN = "xoxb-test-token"


@dataclass
class Workspace:
    """What the fake Slack knows."""

    channels: dict[str, str] = field(default_factory=lambda: {"C0ANNOUNCE": "incidents"})
    members: dict[str, set[str]] = field(default_factory=dict)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    failures: list[tuple[str, int, str, int | None]] = field(default_factory=list)
    bot_joined: set[str] = field(default_factory=lambda: {"C0ANNOUNCE"})
    timezones: dict[str, str] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)  # email → user id
    views: list[dict[str, Any]] = field(default_factory=list)
    stall: dict[str, float] = field(default_factory=dict)
    released: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, method: str, *, status: int = 200, error: str = "internal_error",
             retry_after: int | None = None) -> None:  # fmt: skip
        """Make the next call of `method` fail once."""
        self.failures.append((method, status, error, retry_after))

    def count(self, method: str) -> int:
        """Return how many times `method` was called."""
        return sum(1 for name, _ in self.calls if name == method)


class _Handler(BaseHTTPRequestHandler):
    workspace: Workspace

    def log_message(self, *_args: Any) -> None:
        """Keep the test output quiet."""

    def do_POST(self) -> None:
        method = self.path.strip("/").split("?")[0]
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length).decode()
        if "json" in (self.headers.get("content-type") or ""):
            args = json.loads(raw or "{}")
        else:
            args = dict(parse_qsl(raw))
        if self.headers.get("authorization") != f"Bearer {TOKEN}":
            self._send(200, {"ok": False, "error": "invalid_auth"})
            return
        with self.workspace.lock:
            self.workspace.calls.append((method, args))
            scripted = self._scripted(method)
            if scripted is not None:
                status, body, headers = scripted
            else:
                status, body, headers = 200, _answer(self.workspace, method, args), {}
        stall = self.workspace.stall.get(method, 0)
        if stall:  # the work is done; the answer is late (until released)
            self.workspace.released.wait(stall)
        try:
            self._send(status, body, headers)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client died waiting (a crash test killed it)

    def _scripted(self, method: str) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        for index, (name, status, error, retry_after) in enumerate(self.workspace.failures):
            if name == method:
                del self.workspace.failures[index]
                headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
                return status, {"ok": False, "error": error}, headers
        return None

    def _send(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json; charset=utf-8")
        self.send_header("content-length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _answer(ws: Workspace, method: str, args: dict[str, Any]) -> dict[str, Any]:
    """Answer one Web API call against the workspace."""
    handler = METHODS.get(method)
    return handler(ws, args) if handler else {"ok": False, "error": "unknown_method"}


def _auth_test(_ws: Workspace, _args: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True, "user_id": "UBOT", "bot_id": "BBOT", "team_id": "T1"}


def _create(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    if args["name"] in ws.channels.values():
        return {"ok": False, "error": "name_taken"}
    channel = f"C{len(ws.channels):07d}"
    ws.channels[channel] = args["name"]
    ws.bot_joined.add(channel)
    return {"ok": True, "channel": {"id": channel, "name": args["name"]}}


def _join(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    ws.bot_joined.add(args["channel"])
    return {"ok": True, "channel": {"id": args["channel"]}}


def _invite(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    users = set(str(args["users"]).split(","))
    members = ws.members.setdefault(args["channel"], set())
    if users <= members:
        return {"ok": False, "error": "already_in_channel"}
    members |= users
    return {"ok": True, "channel": {"id": args["channel"]}}


def _update(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    for message in ws.messages.get(args["channel"], []):
        if message["ts"] == args["ts"]:
            message.update(text=args.get("text"), blocks=args.get("blocks"))
            return {"ok": True, "channel": args["channel"], "ts": args["ts"]}
    return {"ok": False, "error": "message_not_found"}


def _history(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True, "messages": list(reversed(ws.messages.get(args["channel"], [])))}


def _post(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """Post a message, as a member of the channel only."""
    channel = args["channel"]
    if channel not in ws.channels:
        return {"ok": False, "error": "channel_not_found"}
    if channel not in ws.bot_joined:
        return {"ok": False, "error": "not_in_channel"}
    messages = ws.messages.setdefault(channel, [])
    ts = f"1700000000.{len(messages) + 1:06d}"
    messages.append({"ts": ts, "text": args.get("text"), "blocks": args.get("blocks"),
                     "metadata": args.get("metadata")})  # fmt: skip
    return {"ok": True, "channel": channel, "ts": ts}


def _users_info(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    user = args["user"]
    return {"ok": True, "user": {"id": user, "tz": ws.timezones.get(user, "UTC")}}


def _lookup_by_email(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    user = ws.emails.get(str(args.get("email", "")).lower())
    return {"ok": True, "user": {"id": user}} if user else {"ok": False, "error": "users_not_found"}


def _views_open(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    view = args["view"] if isinstance(args["view"], dict) else json.loads(args["view"])
    ws.views.append(view)
    return {"ok": True, "view": {"id": f"V{len(ws.views)}", **view}}


def _views_update(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    view = args["view"] if isinstance(args["view"], dict) else json.loads(args["view"])
    index = int(str(args["view_id"]).removeprefix("V")) - 1
    if not 0 <= index < len(ws.views):
        return {"ok": False, "error": "not_found"}
    ws.views[index] = view
    return {"ok": True, "view": {"id": args["view_id"], **view}}


def _list(ws: Workspace, _args: dict[str, Any]) -> dict[str, Any]:
    channels = [{"id": cid, "name": name} for cid, name in ws.channels.items()]
    return {"ok": True, "channels": channels}


METHODS = {
    "conversations.list": _list,
    "users.info": _users_info,
    "users.lookupByEmail": _lookup_by_email,
    "views.open": _views_open,
    "views.update": _views_update,
    "auth.test": _auth_test,
    "conversations.create": _create,
    "conversations.join": _join,
    "conversations.invite": _invite,
    "chat.postMessage": _post,
    "chat.update": _update,
    "conversations.history": _history,
}


@contextmanager
def fake_slack() -> Iterator[tuple[str, Workspace]]:
    """Run the fake on 127.0.0.1 (a free port); yield its base URL and workspace."""
    workspace = Workspace()
    handler = type("Handler", (_Handler,), {"workspace": workspace})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", workspace
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
