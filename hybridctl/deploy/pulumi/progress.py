"""Live progress of a Pulumi operation, drawn from its engine events with rich."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from hybridctl.deploy.pulumi.errmap import scrub

_DONE = {
    "create": "created",
    "update": "updated",
    "delete": "deleted",
    "replace": "replaced",
    "create-replacement": "replacement created",
    "delete-replaced": "old one deleted",
    "same": "unchanged",
    "read": "read",
    "refresh": "refreshed",
}
_PLANNED = {
    "create": "+ create",
    "update": "~ update",
    "delete": "- delete",
    "replace": "+- replace",
    "create-replacement": "+- replace",
    "delete-replaced": "+- replace",
    "same": "  same",
    "read": "  read",
    "refresh": "  refresh",
}


def split_urn(urn: str) -> tuple[str, str]:
    """(type, name) of a Pulumi URN such as urn:pulumi:s::p::a$hcloud:index/server:Server::web."""
    parts = urn.split("::")
    if len(parts) < 4:
        return "", urn
    return parts[2].split("$")[-1], parts[3]


@dataclass
class Step:
    """One resource's operation and where it stands."""

    op: str
    type: str
    name: str
    state: str = "pending"
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None


class EventProgress:
    """Collects engine events; draws a live table on a terminal, plain lines elsewhere."""

    def __init__(self, console: Console, *, secrets: Iterable[str] = (), preview: bool = False):
        self.console = console
        self.secrets = [s for s in secrets if s]
        self.preview = preview
        self.steps: dict[str, Step] = {}
        self.diagnostics: list[str] = []
        self.summary: dict[str, int] = {}
        self._lock = threading.Lock()
        self._live: Live | None = None

    def __enter__(self) -> EventProgress:
        if self.console.is_terminal and not self.preview:
            self._live = Live(self._table(), console=self.console, refresh_per_second=4)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.__exit__(*exc)
            self._live = None

    def on_output(self, line: str) -> None:
        """Pulumi's own text output: not shown (the events carry the same), kept for errors."""

    def on_event(self, event: Any) -> None:
        with self._lock:
            self._handle(event)
            if self._live is not None:
                self._live.update(self._table())

    def changes(self, include_same: bool = False) -> list[Step]:
        return [s for s in self.steps.values() if include_same or s.op not in ("same", "read")]

    def _say(self, text: str) -> None:
        if self._live is None and not self.preview:
            self.console.print(scrub(text, self.secrets), highlight=False, soft_wrap=True)

    def _handle(self, event: Any) -> None:
        pre = getattr(event, "resource_pre_event", None)
        if pre is not None:
            meta = pre.metadata
            if meta.type == "pulumi:pulumi:Stack":
                return
            op = meta.op.value if hasattr(meta.op, "value") else str(meta.op)
            rtype, name = split_urn(meta.urn)
            step = self.steps.get(meta.urn)
            if step is None or op not in ("create-replacement", "delete-replaced"):
                self.steps[meta.urn] = Step(op=op, type=rtype, name=name)
            if op not in ("same", "read"):
                self._say(f"  {_PLANNED.get(op, op)} {rtype} {name} ...")
            return
        done = getattr(event, "res_outputs_event", None)
        if done is not None:
            step = self.steps.get(done.metadata.urn)
            if step is not None:
                step.state = "done"
                step.finished = time.monotonic()
                if step.op not in ("same", "read"):
                    seconds = step.finished - step.started
                    verb = _DONE.get(step.op, step.op)
                    self._say(f"  {verb} {step.type} {step.name} ({seconds:.0f}s)")
            return
        failed = getattr(event, "res_op_failed_event", None)
        if failed is not None:
            step = self.steps.get(failed.metadata.urn)
            if step is not None:
                step.state = "failed"
                step.finished = time.monotonic()
                self._say(f"  [red]failed[/] {step.type} {step.name}")
            return
        diagnostic = getattr(event, "diagnostic_event", None)
        if diagnostic is not None and diagnostic.severity in ("error", "warning"):
            message = scrub(diagnostic.message.strip(), self.secrets)
            if message:
                self.diagnostics.append(f"{diagnostic.severity}: {message}")
                self._say(f"  [yellow]{diagnostic.severity}:[/] {message}")
            return
        summary = getattr(event, "summary_event", None)
        if summary is not None:
            self.summary = {str(k): int(v) for k, v in (summary.resource_changes or {}).items()}

    def _table(self) -> Table:
        table = Table(box=None, show_header=True, header_style="bold")
        for column in ("operation", "type", "name", "state"):
            table.add_column(column)
        now = time.monotonic()
        for step in self.changes():
            elapsed = (step.finished or now) - step.started
            state = {"pending": f"running {elapsed:.0f}s", "done": f"done {elapsed:.0f}s"}.get(
                step.state, f"[red]{step.state}[/]"
            )
            table.add_row(_PLANNED.get(step.op, step.op), step.type, step.name, state)
        return table
