"""The one reader of tiers.yaml: parse, locate every field's line, validate, cross-check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hybridctl.catalog.schema import Catalog
from hybridctl.errors import CatalogError, InputError
from hybridctl.paths import not_a_file
from hybridctl.suggest import close_matches

FieldPath = tuple[str | int, ...]


class LineIndex:
    """Maps a field path such as ('tiers', 2, 'ram_gib') to its line in the YAML file."""

    def __init__(self) -> None:
        self.lines: dict[FieldPath, int] = {}
        self.duplicates: list[tuple[FieldPath, int]] = []

    def line_of(self, path: FieldPath) -> int | None:
        # A missing field has no line of its own: fall back to its nearest parent.
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None

    def walk(self, node: yaml.Node, path: FieldPath = ()) -> None:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = str(key_node.value)
                child = (*path, key)
                if key in seen:
                    self.duplicates.append((child, key_node.start_mark.line + 1))
                seen.add(key)
                self.lines[child] = key_node.start_mark.line + 1
                self.walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self.walk(item, (*path, index))


def format_path(path: FieldPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _parse(path: Path, text: str) -> tuple[Any, LineIndex]:
    index = LineIndex()
    # libyaml when available: the same marks, about ten times faster on start-up's hot path.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise CatalogError(
            str(path),
            [f"{where}: YAML syntax error: {problem}"],
            hint="Check indentation and quoting near that line.",
        ) from None
    finally:
        loader.dispose()
    if node is not None:
        index.walk(node)
    return data, index


def validation_problems(
    path: Path, exc: ValidationError, index: LineIndex, root: Any = None
) -> list[str]:
    """Each of pydantic's errors as "file:line: field: message", with "did you mean" for an
    unknown field of `root` (a model; default: the catalog) and "got ..." for a wrong type."""
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        line = index.line_of(loc)
        where = f"{path}:{line}" if line else str(path)
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            parent_fields = _allowed_fields(loc[:-1], root or Catalog)
            guess = close_matches(str(loc[-1]), parent_fields)
            message = "unknown field" + (f" (did you mean {guess}?)" if guess else "")
        elif error["type"] == "literal_error" or error["type"].endswith("_type"):
            message = f"{message} (got {_as_yaml(error.get('input'))})"
        problems.append(f"{where}: {format_path(loc)}: {message}")
    return problems


def _as_yaml(value: Any) -> str:
    """A scalar as the YAML file spells it (true, not True), for 'got ...' in messages."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, dict | list):
        return "a mapping" if isinstance(value, dict) else "a list"
    return repr(value)


def _allowed_fields(loc: FieldPath, root: Any) -> list[str]:
    """Field names of the model at loc under root, for 'did you mean' on unknown keys."""
    model: Any = root
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = _inner_model(field.annotation)
    return list(getattr(model, "model_fields", {}))


def _inner_model(annotation: Any) -> Any:
    from typing import get_args

    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _read_text(path: Path) -> str:
    """The file as UTF-8 text; bytes that are not UTF-8 are reported by line and column."""
    problem = not_a_file(path)
    if problem:
        raise InputError(
            f"catalog file {path} {problem}",
            hint="Give a YAML file with --catalog, or unset HYBRIDCTL_CATALOG.",
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read catalog {path}: {exc.strerror}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise CatalogError(
            str(path),
            [f"{path}:{line}:{column}: byte 0x{raw[exc.start]:02x} is not UTF-8 text"],
            hint="Save the file as UTF-8 (e.g. re-type the character on that line).",
        ) from None


def parse_catalog(path: Path) -> tuple[Catalog, LineIndex]:
    """Parse and schema-validate a catalog file; raises CatalogError listing every problem."""
    text = _read_text(path)
    data, index = _parse(path, text)
    problems = [
        f"{path}:{line}: {format_path(p)}: duplicate key (an earlier entry is overwritten)"
        for p, line in index.duplicates
    ]
    if not isinstance(data, dict):
        raise CatalogError(str(path), [f"{path}:1: the catalog must be a YAML mapping"])
    try:
        catalog = Catalog.model_validate(data)
    except ValidationError as exc:
        raise CatalogError(str(path), problems + validation_problems(path, exc, index)) from None
    if problems:
        raise CatalogError(str(path), problems)
    return catalog, index
