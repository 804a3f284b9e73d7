"""The hybridctl command lines of the README and the docs, parsed for the tests that run them."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
README = REPO_ROOT / "README.md"

_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
_NEEDS = re.compile(r"#\s*needs\s+(.+?)\s*$")
_EXTRA = re.compile(r"^\[(\w+)\]$")
_SHELL_STOP = {"|", "||", ";", "&&", "&", ">", ">>", "<", "2>"}


@dataclass(frozen=True)
class DocCommand:
    """One `hybridctl ...` line of a code block, and what it needs beyond the plain install."""

    source: str  # file:line
    argv: tuple[str, ...]  # the arguments after `hybridctl`
    needs: str | None  # "[deploy]", "Docker", "a deployment", ... from a `# needs ...` comment

    @property
    def extra(self) -> str | None:
        """The extra named by `# needs [extra]`, if that is what the line needs."""
        match = _EXTRA.match(self.needs or "")
        return match.group(1) if match else None

    def __str__(self) -> str:
        return "hybridctl " + shlex.join(self.argv)


def _argv(line: str) -> tuple[str, ...]:
    """The words of a shell line up to its first pipe, redirection or separator."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    words: list[str] = []
    for word in lexer:
        if word in _SHELL_STOP:
            break
        words.append(word)
    return tuple(words)


def doc_commands(path: Path, *, prompt_only: bool = False) -> list[DocCommand]:
    """Every `hybridctl` line in the file's code blocks (with `prompt_only`, only `$ hybridctl`).

    A line ending in a backslash continues on the next one, as in a shell.
    """
    text = path.read_text(encoding="utf-8")
    found: list[DocCommand] = []
    for block in _FENCE.finditer(text):
        first_line = text.count("\n", 0, block.start(1)) + 1
        lines = block.group(1).splitlines()
        index = 0
        while index < len(lines):
            number = first_line + index
            line = lines[index].strip()
            while line.endswith("\\") and index + 1 < len(lines):
                index += 1
                line = line[:-1] + " " + lines[index].strip()
            index += 1
            if line.startswith("$ "):
                line = line[2:]
            elif prompt_only:
                continue
            if not line.startswith("hybridctl "):
                continue
            needs = _NEEDS.search(line)
            words = _argv(line)
            found.append(
                DocCommand(f"{path.name}:{number}", words[1:], needs.group(1) if needs else None)
            )
    return found


def readme_commands() -> list[DocCommand]:
    """The README's example commands, in order."""
    return doc_commands(README)
