"""The physical limit of the HTTP stack on this machine: a bare Starlette endpoint that reads
the body and answers 202 — what ``tests/bench/ingest.py`` compares the real server with.

    python -m tests.bench.bare --port 8000 --workers 2

It is served exactly as ``incidents serve`` serves the real app (incidents/serving.py: the
same uvicorn, the same listening socket), so the ratio compares the apps, not the setups.
"""

from __future__ import annotations

import argparse

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def accept(request: Request) -> Response:
    """Read the whole body (as a webhook target must) and accept it."""
    await request.body()
    return Response(status_code=202)


app = Starlette(routes=[Route("/webhooks/{source}", accept, methods=["POST"])])


def main() -> None:
    """Serve the bare endpoint on loopback."""
    from incidents import serving

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    options = parser.parse_args()
    serving.run(host="127.0.0.1", port=options.port, workers=options.workers,
                log_level="warning", app="tests.bench.bare:app", factory=False)  # fmt: skip


if __name__ == "__main__":
    main()
