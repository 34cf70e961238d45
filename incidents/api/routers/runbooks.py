"""Read-only runbooks: ``GET /runbooks`` lists them, ``GET /runbooks/{name}`` serves one.

The Markdown is served as written (front matter included: it says who owns the runbook and
what it matches). Names are looked up among the valid runbooks the folder holds, never
joined into a path, so nothing outside the runbooks folder can be read. Same authentication
as ``/api/*``.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel

from incidents.api.deps import SettingsDep
from incidents.api.schemas import ErrorOut
from incidents.errors import NotFound
from incidents.runbooks import find_runbook, load_runbooks, runbook_url
from incidents.web.auth import Viewer

MARKDOWN = "text/markdown; charset=utf-8"

# Viewer, not ApiAuth: people open runbook links from Slack cards and pages in a browser,
# signed in with the pages' cookie or HTTP Basic; scripts still send the bearer token.
router = APIRouter(tags=["runbooks"], dependencies=[Viewer])


class RunbookOut(BaseModel):
    """One runbook: what it is called, what it matches, who owns it, and where it is served."""

    name: str
    title: str
    match: list[dict[str, str]]
    severity: str | None
    owner: str | None
    url: str


@router.get("/runbooks", responses={401: {"model": ErrorOut}})
def list_runbooks(settings: SettingsDep) -> list[RunbookOut]:
    """List the valid runbooks; ``match`` is a list of label sets, any one of which may match."""
    return [
        RunbookOut(
            name=runbook.name,
            title=runbook.title,
            match=[dict(entry) for entry in runbook.match],
            severity=runbook.severity.value if runbook.severity else None,
            owner=runbook.owner,
            url=runbook_url(runbook, settings.public_url),
        )
        for runbook in load_runbooks(settings.runbooks_dir)
    ]


@router.get(
    "/runbooks/{name}",
    response_class=Response,
    responses={
        200: {"content": {MARKDOWN: {"schema": {"type": "string"}}}},
        401: {"model": ErrorOut},
        404: {"model": ErrorOut, "description": "no valid runbook by that name"},
    },
)
def get_runbook(name: str, settings: SettingsDep) -> Response:
    """Serve one runbook as Markdown (names: lowercase letters, digits and dashes)."""
    runbook = find_runbook(settings.runbooks_dir, name)
    if runbook is None:
        raise NotFound(f"no runbook {name[:100]!r}: see GET /runbooks for the list")
    try:
        text = runbook.path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise NotFound(f"runbook {name!r} can no longer be read") from None
    return Response(text, media_type=MARKDOWN)
