"""`incidents runbooks check`: OK on the shipped folder; mistakes as file:line and exit 1."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from incidents.cli import app
from incidents.resources import bundled_dir

runner = CliRunner()


def run(*args: str, **env: str):
    return runner.invoke(app, ["runbooks", "check", *args], env={"COLUMNS": "200", **env})


def test_the_shipped_runbooks_are_ok():
    shipped = bundled_dir("runbooks")
    result = run("--dir", str(shipped))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{shipped}: 5 runbooks, OK"


def test_the_default_folder_is_the_runbooks_setting(tmp_path: Path):
    (tmp_path / "one.md").write_text("---\ntitle: One\nmatch: {service: checkout}\n---\nSteps\n")
    result = run(INCIDENTS_RUNBOOKS_DIR=str(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{tmp_path}: 1 runbook, OK"


def test_mistakes_are_printed_as_file_line_message_and_exit_1(tmp_path: Path):
    (tmp_path / "good.md").write_text("---\ntitle: Good\nmatch: {model: 'loan-*'}\n---\nSteps\n")
    bad = tmp_path / "bad.md"
    bad.write_text("---\ntitle: Bad\nmatch:\n  model: chatbot\nseverity: urgent\n---\nSteps\n")
    unclosed = tmp_path / "unclosed.md"
    unclosed.write_text("---\ntitle: Unclosed\n")
    result = run("--dir", str(tmp_path))
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[0].startswith(f"{bad}:5: unknown severity 'urgent'")
    assert lines[1].startswith(f"{unclosed}:1: front matter is never closed")
    assert "OK" not in result.output


def test_a_missing_folder_is_one_line_and_exit_1(tmp_path: Path):
    result = run("--dir", str(tmp_path / "nowhere"))
    assert result.exit_code == 1
    assert result.output.strip() == f"error: no runbooks folder at {tmp_path / 'nowhere'}"


def test_help_describes_the_command():
    result = runner.invoke(app, ["runbooks", "check", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--dir" in result.output and "file:line" in result.output
