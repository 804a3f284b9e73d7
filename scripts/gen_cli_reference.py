"""Write docs/reference.md, the command reference, from the CLI itself (--check: fail if stale)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import typer.main

REPO_ROOT = Path(__file__).resolve().parent.parent
REFERENCE = REPO_ROOT / "docs" / "reference.md"
REGENERATE = "python scripts/gen_cli_reference.py"

HEADER = f"""# Command reference

Generated from the CLI itself by `{REGENERATE}`; a test fails when this page is stale.
Every command also answers `--help`.

Exit codes everywhere: **0** success, **1** the thing checked fell short or an operation failed,
**2** bad usage or input. Set `HYBRIDCTL_DEBUG=1` for a traceback.
"""


def _cell(text: str) -> str:
    """Text made safe for one Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _help_text(text: str) -> list[str]:
    """A command's help as Markdown: paragraphs, with its `Example:` lines as code."""
    lines: list[str] = []
    for paragraph in text.strip().split("\n\n"):
        prose: list[str] = []
        examples: list[str] = []
        for line in paragraph.splitlines():
            if line.strip().startswith("Example:"):
                examples.append(line.strip().removeprefix("Example:").strip())
            elif examples:  # a wrapped example continues on the next line
                examples[-1] += " " + line.strip()
            else:
                prose.append(line.strip())
        if any(prose):
            lines += [" ".join(" ".join(prose).split()), ""]
        if examples:
            lines += ["```", *examples, "```", ""]
    return lines


def _context(command: Any, name: str, parent: Any = None) -> Any:
    # Typer carries its own copy of click: let the command build its context (its settings,
    # such as -h, included) from no arguments, without failing on required ones.
    return command.make_context(
        name, [], parent=parent, resilient_parsing=True, terminal_width=100, max_content_width=100
    )


def _is_group(command: Any) -> bool:
    return callable(getattr(command, "list_commands", None))


def _options(command: Any, ctx: Any) -> list[str]:
    rows = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:  # a hidden parameter
            continue
        names, help_text = record
        rows.append(f"| `{_cell(names)}` | {_cell(help_text)} |")
    if not rows:
        return []
    return ["| parameter | what it does |", "| --- | --- |", *rows, ""]


def _command_section(path: list[str], command: Any, parent: Any) -> list[str]:
    ctx = _context(command, path[-1], parent)
    usage = " ".join([*path, *command.collect_usage_pieces(ctx)])
    lines = [f"{'#' * min(len(path), 4)} `{' '.join(path)}`", ""]
    lines += _help_text(command.help or command.short_help or "")
    lines += ["```", f"Usage: {usage}", "```", ""]
    lines += _options(command, ctx)
    if _is_group(command):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                lines += _command_section([*path, name], sub, ctx)
    return lines


def render_reference() -> str:
    """The reference page's Markdown for the CLI as it is now."""
    from hybridctl.cli.app import app

    root = typer.main.get_command(app)
    ctx = _context(root, "hybridctl")
    assert _is_group(root)
    names = [n for n in root.list_commands(ctx) if not root.get_command(ctx, n).hidden]
    lines = [HEADER, "Commands: " + ", ".join(f"[`{n}`](#hybridctl-{n})" for n in names), ""]
    for name in names:
        command = root.get_command(ctx, name)
        assert command is not None
        lines += _command_section(["hybridctl", name], command, ctx)
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/reference.md is stale")
    args = parser.parse_args(argv)
    text = render_reference()
    if args.check:
        current = REFERENCE.read_text(encoding="utf-8") if REFERENCE.exists() else ""
        if current != text:
            print(f"{REFERENCE.relative_to(REPO_ROOT)} is stale: run `{REGENERATE}`")
            return 1
        print(f"{REFERENCE.relative_to(REPO_ROOT)} is up to date")
        return 0
    REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    REFERENCE.write_text(text, encoding="utf-8")
    print(f"wrote {REFERENCE.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
