"""Read the README snippets marked ``<!-- snippet: NAME -->`` so tests run them as pasted."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
_SNIPPET = re.compile(r"<!-- snippet: (?P<name>\S+) -->\n```\w*\n(?P<body>.*?)```", re.DOTALL)


def snippet(name: str) -> str:
    """Return the text of the README snippet `name`."""
    for match in _SNIPPET.finditer(README.read_text()):
        if match.group("name") == name:
            return match.group("body")
    raise KeyError(f"README has no snippet {name!r}")
