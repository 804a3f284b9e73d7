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


def _template_location(exc: BaseException) -> str | None:
    """'file line N' of the innermost template frame of a Jinja error (includes resolved)."""
    found = None
    tb = exc.__traceback__
    while tb is not None:
        template = tb.tb_frame.f_globals.get("__jinja_template__")
        if template is not None:
            found = f"{template.name} line {template.get_corresponding_lineno(tb.tb_lineno)}"
        tb = tb.tb_next
    return found


def render_template(env: jinja2.Environment, name: str, context: BaseModel, **extra: Any) -> str:
    """Render one template with the context's fields as its variables (plus `ctx` itself)."""
    variables: dict[str, Any] = {name: getattr(context, name) for name in type(context).model_fields}
    variables["ctx"] = context
    variables.update(extra)
    try:
        template = env.get_template(name)
        return template.render(variables)
    except jinja2.UndefinedError as exc:
        where = _template_location(exc) or name
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
