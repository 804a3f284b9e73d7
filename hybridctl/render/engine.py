"""The Jinja environment: strict about undefined names, and errors that name the template."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import jinja2
from pydantic import BaseModel

from hybridctl.errors import InputError
from hybridctl.paths import templates_dir


def _yaml_str(value: object) -> str:
    """A YAML/JSON double-quoted scalar: safe for any string a template puts in YAML."""
    return json.dumps(str(value))


def make_environment(root: Path | None = None) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(root or templates_dir())),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # YAML, INI, shell and Caddyfile: HTML escaping would corrupt them
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["q"] = _yaml_str
    env.filters["sh"] = lambda value: shlex.quote(str(value))
    env.filters["tojson_sorted"] = lambda value: json.dumps(value, sort_keys=True)
    return env


def _template_location(exc: BaseException, root: str | None) -> str | None:
    """'name line N' of the innermost template frame of a Jinja error (includes resolved).

    Jinja rewrites the traceback so that template frames carry the template's file name and
    line; they are the frames whose globals hold `__jinja_exception__`.
    """
    found = None
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if "__jinja_exception__" in frame.f_globals:
            filename = frame.f_code.co_filename
            if root and filename.startswith(root.rstrip("/") + "/"):
                filename = filename[len(root.rstrip("/")) + 1 :]
            found = f"{filename} line {tb.tb_lineno}"
        tb = tb.tb_next
    return found


def render_template(env: jinja2.Environment, name: str, context: BaseModel) -> str:
    """Render one template; its only variables are the context model's fields (and `ctx`)."""
    variables: dict[str, Any] = {
        field: getattr(context, field) for field in type(context).model_fields
    }
    variables["ctx"] = context
    try:
        template = env.get_template(name)
        return template.render(variables)
    except jinja2.UndefinedError as exc:
        searchpath = getattr(env.loader, "searchpath", None) or [None]
        where = _template_location(exc, searchpath[0]) or name
        raise InputError(
            f"template {where} uses a variable the render context does not define: {exc.message}",
            hint="Fix the template (or add the field to RenderContext); "
            f"the context has: {', '.join(sorted(variables))}.",
        ) from None
    except jinja2.TemplateSyntaxError as exc:
        raise InputError(
            f"template {exc.name or name} line {exc.lineno} has a syntax error: {exc.message}",
            hint="Fix the template's Jinja syntax.",
        ) from None
    except jinja2.TemplateNotFound as exc:
        raise InputError(
            f"template {exc.name} was not found under {env.loader.searchpath}",  # type: ignore[union-attr]
            hint="Reinstall hybridctl, or check HYBRIDCTL templates are shipped.",
        ) from None
