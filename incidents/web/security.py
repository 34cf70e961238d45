"""Response headers for the pages: a strict Content-Security-Policy and the usual hardening.

Pages use no script at all and load only our own stylesheet, so the policy forbids scripts,
frames, plugins and every other origin. Rendered documents (postmortem and summary HTML,
from user-editable templates with an inline ``<style>``) get a policy that allows exactly
their style blocks by hash — still no script. Every answer under ``/ui`` and ``/`` carries the
headers, including redirects, errors and static files, because a middleware adds them.
"""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'none'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HARDENING = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.DOTALL | re.IGNORECASE)


def document_policy(html: str) -> str:
    """Return a policy that admits exactly the document's inline <style> blocks, by hash."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()}'"
        for block in _STYLE.findall(html)
    )
    styles = hashes or "'none'"
    return (
        f"default-src 'none'; style-src {styles}; img-src data:; script-src 'none'; "
        "form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
    )


def is_page_path(path: str) -> bool:
    """Tell whether a request path belongs to the web pages."""
    return path == "/" or path == "/ui" or path.startswith("/ui/")


class PageHeaders:
    """ASGI middleware: add the policy and hardening headers to every page response.

    A response that set its own Content-Security-Policy (a rendered document) keeps it.
    Pages are private and change all the time, so they are never cached; static files are.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Wrap `send` for page requests; pass everything else through untouched."""
        if scope["type"] != "http" or not is_page_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/ui/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "content-security-policy" not in headers:
                    headers["Content-Security-Policy"] = PAGE_POLICY
                for name, value in HARDENING.items():
                    headers[name] = value
                if not static:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
