"""Renders message templates in Jinja2's sandbox: templates are written by shop staff,
so they must not reach Python internals. Undefined variables fail loudly instead of
sending a mail with a hole in it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError, select_autoescape
from jinja2.sandbox import SandboxedEnvironment

from shared.errors import InvalidInput

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


def _environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


_env: SandboxedEnvironment | None = None


def render_email(name: str, locale: str, context: dict[str, Any]) -> RenderedEmail:
    """Render `<name>.<locale>.{subject.txt,html,txt}` from the template folder."""
    global _env  # noqa: PLW0603 - built once per warm process
    if _env is None:
        _env = _environment()
    try:
        parts = [
            _env.get_template(f"{name}.{locale}.{suffix}").render(context)
            for suffix in ("subject.txt", "html", "txt")
        ]
    except TemplateError as err:
        raise InvalidInput(
            f"template {name!r} failed to render: {err.message}", field="template"
        ) from None
    return RenderedEmail(subject=" ".join(parts[0].split()), html=parts[1], text=parts[2])
