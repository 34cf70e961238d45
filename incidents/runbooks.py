"""Runbooks: Markdown files with YAML front matter in the runbooks folder (DESIGN §10).

A runbook is ``<runbooks_dir>/<name>.md`` (``name``: lowercase letters, digits and dashes; it
is the URL ``{public_url}/runbooks/<name>``; ``README.md`` is not a runbook)::

    ---
    title: Model drift             # required
    match:                         # required: label -> pattern, all must hold ...
      signal: data_drift
    severity: SEV2                 # optional: applies to SEV2 and SEV1 incidents only
    owner: ml-reliability          # optional
    ---
    # Markdown body ...

``match`` may also be a list of such mappings, any one of which may hold (``signal:
data_drift`` *or* ``alertname: ModelDrift*``). Patterns are case-sensitive globs
(``fnmatch.fnmatchcase``: ``*``, ``?``, ``[abc]``); a label that is absent never matches,
not even ``"*"`` — so ``slice: "*"`` means "the incident has a slice".

Labels an incident is matched on (``labels_of_incident``): the labels of its alerts (the
earliest alert's first), then the incident's own ``service``, ``model``, ``model_version``,
``severity`` (``SEV1``..``SEV4``, replacing a sender's ``critical`` etc.) and ``source``
(``alertmanager``, ``ml``, ``manual``…), and its slice as ``slice`` (the slice key, e.g.
``language=de,region=eu``) plus one ``slice.<dimension>`` label per dimension
(``slice.language: de``). ML and Evidently alerts carry ``signal`` (``data_drift``,
``performance``…) among their labels.

Most specific wins (``best_match``): among the runbooks that apply, the one whose matching
label set has the most matchers, then the most exact (glob-free) matchers, then the longest
literal prefixes of its glob patterns (``loan-*`` beats ``l*``), then a severity floor (the
strictest first) over none, then the name in alphabetical order — so the choice never depends
on the order files are read in.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Protocol, TypeAlias

import yaml

from incidents.domain.refs import slice_key
from incidents.domain.severity import Severity

FIELDS = ("title", "match", "severity", "owner")
NAME = re.compile(r"[a-z0-9-]+")
NOT_RUNBOOKS = frozenset({"readme.md"})
GLOB_CHARS = "*?["
URL_MAX = 300  # Incident.runbook
_FENCE = "---"
_NO_FLOOR = 5  # sorts after SEV4

MatchSet: TypeAlias = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a runbook file, with the line it is on (0: the file as a whole)."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class Runbook:
    """One valid runbook; ``match`` holds its label sets (any one of them may match)."""

    name: str
    title: str
    match: tuple[MatchSet, ...]
    severity: Severity | None
    owner: str | None
    body: str
    path: Path


class IncidentLike(Protocol):
    """What ``labels_of_incident`` reads from an incident (a stored ``Incident`` will do)."""

    @property
    def service(self) -> str | None: ...
    @property
    def model(self) -> str | None: ...
    @property
    def model_version(self) -> str | None: ...
    @property
    def severity(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def slice(self) -> Mapping[str, str] | None: ...


# -- matching -------------------------------------------------------------------------------


def labels_of_incident(
    incident: IncidentLike, alert_labels: Iterable[Mapping[str, str]] = ()
) -> dict[str, str]:
    """Return the labels runbooks are matched on (see the module docstring)."""
    labels: dict[str, str] = {}
    for one in alert_labels:
        for name, value in one.items():
            labels.setdefault(str(name), str(value))
    subject = {
        "service": incident.service,
        "model": incident.model,
        "model_version": incident.model_version,
        "severity": incident.severity,
        "source": incident.source,
    }
    labels |= {name: value for name, value in subject.items() if value}
    slice_ = dict(incident.slice or {})
    if slice_:
        labels["slice"] = slice_key(slice_) or ""
        labels |= {f"slice.{dimension}": value for dimension, value in slice_.items()}
    return labels


def best_match(runbooks: Iterable[Runbook], labels: Mapping[str, str]) -> Runbook | None:
    """Return the most specific runbook that applies to `labels`, or None."""
    severity = _severity_label(labels.get("severity"))
    ranked: list[tuple[tuple[int, int, int, int, str], Runbook]] = []
    for runbook in runbooks:
        if runbook.severity is not None and (
            severity is None or severity.rank > runbook.severity.rank
        ):
            continue
        scores = [_specificity(entry) for entry in runbook.match if _matches(entry, labels)]
        if not scores:
            continue
        count, exact, prefix = max(scores)
        floor = runbook.severity.rank if runbook.severity else _NO_FLOOR
        ranked.append(((-count, -exact, -prefix, floor, runbook.name), runbook))
    return min(ranked, key=lambda item: item[0])[1] if ranked else None


def runbook_url(runbook: Runbook, public_url: str) -> str:
    """Return where the toolkit serves `runbook`: ``{public_url}/runbooks/{name}``."""
    return f"{public_url.rstrip('/')}/runbooks/{runbook.name}"


def link_for(labels: Mapping[str, str], *, runbooks_dir: Path, public_url: str) -> str | None:
    """Return the URL of the best runbook for `labels`; None when none applies (or fits)."""
    runbook = best_match(load_runbooks(runbooks_dir), labels)
    if runbook is None:
        return None
    url = runbook_url(runbook, public_url)
    return url if len(url) <= URL_MAX else None


def _matches(entry: MatchSet, labels: Mapping[str, str]) -> bool:
    """Say whether every matcher of one label set holds (absent labels never match)."""
    return all(
        name in labels and fnmatchcase(labels[name], pattern) for name, pattern in entry.items()
    )


def _specificity(entry: MatchSet) -> tuple[int, int, int]:
    """Return (matchers, exact matchers, literal-prefix length of the glob patterns)."""
    globs = [pattern for pattern in entry.values() if _is_glob(pattern)]
    prefix = sum(_literal_prefix(pattern) for pattern in globs)
    return len(entry), len(entry) - len(globs), prefix


def _is_glob(pattern: str) -> bool:
    """Say whether a pattern uses any glob character."""
    return any(char in pattern for char in GLOB_CHARS)


def _literal_prefix(pattern: str) -> int:
    """Return the length of the pattern before its first glob character."""
    return min((pattern.index(c) for c in GLOB_CHARS if c in pattern), default=len(pattern))


def _severity_label(value: str | None) -> Severity | None:
    """Read an incident's ``SEVn`` label; anything else is unknown."""
    try:
        return Severity((value or "").strip().upper())
    except ValueError:
        return None


# -- loading (cached) -----------------------------------------------------------------------

_Signature: TypeAlias = tuple[tuple[str, int, int, int], ...]
_CACHE: dict[str, tuple[_Signature, tuple[Runbook, ...]]] = {}
_CACHE_DIRS = 8


def load_runbooks(runbooks_dir: Path) -> tuple[Runbook, ...]:
    """Return the valid runbooks in `runbooks_dir` (none when it does not exist).

    Files are parsed again only when the folder's listing or a file's size or modification
    time changes: an unchanged folder costs one directory scan (metadata only, no reads).
    Runbooks with problems that make them unusable are left out; ``incidents runbooks
    check`` is where problems are reported.
    """
    try:
        signature = _signature(runbooks_dir)
    except OSError:
        return ()
    key = str(runbooks_dir)
    cached = _CACHE.get(key)
    if cached is not None and cached[0] == signature:
        return cached[1]
    runbooks = tuple(check(runbooks_dir)[0])
    if len(_CACHE) >= _CACHE_DIRS:
        _CACHE.clear()
    _CACHE[key] = (signature, runbooks)
    return runbooks


def find_runbook(runbooks_dir: Path, name: str) -> Runbook | None:
    """Return the valid runbook called `name`, or None (names outside ``[a-z0-9-]+`` too)."""
    if not NAME.fullmatch(name):
        return None
    return next((rb for rb in load_runbooks(runbooks_dir) if rb.name == name), None)


def _signature(runbooks_dir: Path) -> _Signature:
    """Describe the folder's runbook files by name, size, modification time and inode."""
    entries = []
    with os.scandir(runbooks_dir) as listing:
        for entry in listing:
            if _is_runbook_file(entry.name) and entry.is_file():
                stat = entry.stat()
                entries.append((entry.name, stat.st_size, stat.st_mtime_ns, stat.st_ino))
    return tuple(sorted(entries))


def _is_runbook_file(filename: str) -> bool:
    """Say whether a file name is a runbook's (``*.md``, not the folder's README)."""
    return filename.endswith(".md") and filename.lower() not in NOT_RUNBOOKS


# -- validation -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Parsed:
    """What one file said, with lines, before it becomes a Runbook."""

    path: Path
    fields: dict[str, str] = field(default_factory=dict)
    match: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # (line, set)
    severity: Severity | None = None
    body: str = ""
    usable: bool = True


def check(runbooks_dir: Path) -> tuple[list[Runbook], list[Problem]]:
    """Read and validate every runbook in `runbooks_dir`; return the usable ones and problems.

    A runbook is usable when its name, front matter, ``title``, ``match`` and ``severity``
    are right; unknown keys, an empty body or a duplicate do not stop it being used.
    """
    if not runbooks_dir.is_dir():
        return [], [Problem(str(runbooks_dir), 0, "no such folder")]
    problems: list[Problem] = []
    parsed: list[_Parsed] = []
    for path in sorted(p for p in runbooks_dir.iterdir() if _is_runbook_file(p.name)):
        if path.is_file():
            parsed.append(_parse_file(path, problems))
    _check_duplicates(parsed, problems)
    runbooks = [_runbook(item) for item in parsed if item.usable]
    problems.sort(key=lambda p: (p.file, p.line))
    return runbooks, problems


def _runbook(item: _Parsed) -> Runbook:
    """Build the Runbook of a usable parsed file."""
    return Runbook(
        name=item.path.stem,
        title=item.fields["title"],
        match=tuple(entry for _, entry in item.match),
        severity=item.severity,
        owner=item.fields.get("owner"),
        body=item.body,
        path=item.path,
    )


def _parse_file(path: Path, problems: list[Problem]) -> _Parsed:
    """Split one file into front matter and body, and validate both."""
    item = _Parsed(path)
    report = _Reporter(str(path), problems, item)
    if not NAME.fullmatch(path.stem):
        report(1, f"file name {path.stem!r} must be lowercase letters, digits and dashes "
                  "(it is the runbook's URL: /runbooks/<name>)")  # fmt: skip
    try:
        text = path.read_text(encoding="utf-8").removeprefix("\ufeff")
    except (OSError, UnicodeDecodeError) as exc:
        report(0, f"cannot read: {exc}")
        return item
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != _FENCE:
        report(1, "no front matter: start the file with a line '---', then title and "
                  "match, then a line '---' and the Markdown body")  # fmt: skip
        return item
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == _FENCE), None)
    if end is None:
        report(1, "front matter is never closed: add a line '---' after it")
        return item
    item.body = "".join(lines[end + 1 :])
    if not item.body.strip():
        report(end + 1, "no body: write the steps below the front matter", fatal=False)
    _front_matter("".join(lines[1:end]), report)
    return item


class _Reporter:
    """Record problems of one file; a problem that makes the runbook unusable marks it."""

    def __init__(self, file: str, problems: list[Problem], item: _Parsed) -> None:
        self.file, self.problems, self.item = file, problems, item

    def __call__(self, line: int, message: str, *, fatal: bool = True) -> None:
        self.problems.append(Problem(self.file, line, message))
        if fatal:
            self.item.usable = False

    def at(self, node: yaml.Node, message: str, *, fatal: bool = True) -> None:
        """Report at a front-matter node (its file line: the YAML starts on line 2)."""
        self(node.start_mark.line + 2, message, fatal=fatal)


def _front_matter(text: str, report: _Reporter) -> None:
    """Validate the YAML between the fences."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1
        hint = ""
        if "alias" in str(getattr(exc, "context", "")):
            hint = ' (quote patterns that start with "*", e.g. "*" or "*Drift")'
        report(line, f"front matter is not valid YAML: {getattr(exc, 'problem', exc)}{hint}")
        return
    if root is None:
        report(1, "front matter is empty: it needs title and match")
        return
    if not isinstance(root, yaml.MappingNode):
        report.at(root, "front matter must be a mapping of title, match, severity, owner")
        return
    seen = _keys(root, report, where="front matter")
    for name in ("title", "match"):
        if name not in seen:
            report(1, f"missing {name}")
    for key_node, value_node in root.value:
        if isinstance(key_node, yaml.ScalarNode):
            _field(str(key_node.value), key_node, value_node, report)


def _keys(node: yaml.MappingNode, report: _Reporter, *, where: str) -> dict[str, int]:
    """Return the keys of a mapping with their lines, reporting duplicates and non-text keys."""
    seen: dict[str, int] = {}
    for key_node, _ in node.value:
        line = key_node.start_mark.line + 2
        if not isinstance(key_node, yaml.ScalarNode) or not key_node.value:
            report.at(key_node, f"{where}: keys must be names")
            continue
        if key_node.value in seen:
            report.at(key_node, f"{where}: duplicate key {key_node.value!r} "
                                f"(first on line {seen[key_node.value]})")  # fmt: skip
            continue
        seen[key_node.value] = line
    return seen


def _field(name: str, key: yaml.Node, value: yaml.Node, report: _Reporter) -> None:
    """Validate one front-matter field."""
    if name in ("title", "owner"):
        text = _text(value)
        if text is None:
            report.at(value, f"{name} must be non-empty text", fatal=name == "title")
        else:
            report.item.fields.setdefault(name, text)
    elif name == "severity":
        _severity(value, report)
    elif name == "match":
        _match(value, report)
    else:
        report.at(key, f"unknown key {name!r} (use {', '.join(FIELDS)})", fatal=False)


def _severity(node: yaml.Node, report: _Reporter) -> None:
    """Read the severity floor: SEV1..SEV4."""
    text = _text(node) or ""
    try:
        report.item.severity = Severity(text.upper())
    except ValueError:
        report.at(node, f"unknown severity {text!r}: use SEV1, SEV2, SEV3 or SEV4 (the "
                        "runbook then applies at that severity or worse)")  # fmt: skip


def _match(node: yaml.Node, report: _Reporter) -> None:
    """Read ``match``: one mapping of label -> pattern, or a list of them."""
    if isinstance(node, yaml.MappingNode):
        entries = [node]
    elif isinstance(node, yaml.SequenceNode) and all(
        isinstance(item, yaml.MappingNode) for item in node.value
    ):
        entries = list(node.value)
    else:
        report.at(node, "match must be a mapping of label: pattern, or a list of such mappings")
        return
    if not entries:
        report.at(node, "match is empty: name at least one label")
    for entry in entries:
        _match_set(entry, report)


def _match_set(node: yaml.MappingNode, report: _Reporter) -> None:
    """Read one label set; every pattern must be non-empty text."""
    if not node.value:
        report.at(node, "match is empty: name at least one label")
        return
    _keys(node, report, where="match")
    patterns: dict[str, str] = {}
    for key_node, value_node in node.value:
        label = str(key_node.value)
        pattern = _text(value_node)
        if pattern is None:
            report.at(value_node, f"label {label!r} needs a pattern "
                                  '(text; quote "*" to match any value)')  # fmt: skip
            continue
        patterns.setdefault(label, pattern)
    report.item.match.append((node.start_mark.line + 2, patterns))


def _text(node: yaml.Node) -> str | None:
    """Return a scalar's text as written (``7`` stays ``"7"``); None for null, empty or not text."""
    if not isinstance(node, yaml.ScalarNode) or node.tag == "tag:yaml.org,2002:null":
        return None
    text = str(node.value).strip()
    return text or None


def _check_duplicates(parsed: Sequence[_Parsed], problems: list[Problem]) -> None:
    """Report names that differ only in case, and label sets two usable runbooks both use."""
    names: dict[str, Path] = {}
    sets: dict[tuple[frozenset[tuple[str, str]], Severity | None], Path] = {}
    for item in parsed:
        folded = item.path.stem.lower()
        if folded in names:
            problems.append(Problem(str(item.path), 1, f"duplicate name: same as "
                                    f"{names[folded].name} (names ignore case)"))  # fmt: skip
        names.setdefault(folded, item.path)
        for line, entry in item.match if item.usable else ():
            key = (frozenset(entry.items()), item.severity)
            if key in sets and sets[key] != item.path:
                problems.append(Problem(str(item.path), line, "same match as "
                                        f"{sets[key].name}: only the first by name is ever "
                                        "chosen for these labels"))  # fmt: skip
            sets.setdefault(key, item.path)
