"""Renders message templates in Jinja2's sandbox: templates are written by shop staff,
so they must not reach Python internals. Undefined variables fail loudly instead of
sending a mail with a hole in it.

Two sources: the file templates shipped with the messenger (welcome mail, footers,
partials such as ``_recommendations.html``) and template strings stored with a
`Message`. Stored strings may ``{% include %}`` the shipped partials. Every failure
names the field it came from (``email.subject``, ``line.flex.body.contents.0.text``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from messenger.domain.message import (
    FLEX_CONTAINERS,
    LINE_ALT_TEXT_MAX,
    LINE_TEXT_MAX,
    EmailContent,
    LineContent,
    Message,
    SmsContent,
)
from messenger.domain.sms import MAX_PARTS, SmsLength, sms_length
from shared.errors import InvalidInput

if TYPE_CHECKING:
    from jinja2 import TemplateError

    from messenger.domain.sandbox import BoundedSandbox

# Jinja2 and the sandbox built on it load with the first template rendered or checked, not
# with the module: the channels and the API import this module for the `Rendered*` types,
# and a request that renders nothing should not pay for Jinja2 at cold start.

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
_ABSOLUTE_PATH = re.compile(r"(?:[A-Za-z]:)?[\\/](?:[\w.-]+[\\/])+[\w.-]*")


def _safe(err: TemplateError) -> str:
    """The error's message without any server path (a template may name one)."""
    message = str(err.message or type(err).__name__)
    message = message.replace(str(TEMPLATE_DIR), "<templates>")
    return _ABSOLUTE_PATH.sub("<path>", message)


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


@dataclass(frozen=True)
class RenderedLine:
    text: str | None = None
    flex: Mapping[str, Any] | None = None
    alt_text: str | None = None
    quick_reply: tuple[Mapping[str, Any], ...] = ()

    def line_messages(self) -> list[dict[str, Any]]:
        """LINE message objects (the `messages` array of a push or multicast)."""
        message: dict[str, Any] = (
            {"type": "flex", "altText": self.alt_text or "", "contents": dict(self.flex)}
            if self.flex is not None
            else {"type": "text", "text": self.text or ""}
        )
        if self.quick_reply:
            message["quickReply"] = {
                "items": [{"type": "action", **item} for item in self.quick_reply]
            }
        return [message]

    @property
    def preview_text(self) -> str:
        return self.text if self.text is not None else self.alt_text or ""


@dataclass(frozen=True)
class RenderedSms:
    text: str
    length: SmsLength


Rendered = RenderedEmail | RenderedLine | RenderedSms


def _environment(autoescape: bool | None = None) -> BoundedSandbox:
    from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape

    from messenger.domain.sandbox import BoundedSandbox

    return BoundedSandbox(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=(
            select_autoescape(enabled_extensions=("html",), default_for_string=False)
            if autoescape is None
            else autoescape
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


_string_envs: dict[bool, BoundedSandbox] = {}


def _string_env(html: bool) -> BoundedSandbox:
    if html not in _string_envs:
        _string_envs[html] = _environment(autoescape=html)
    return _string_envs[html]


def render_file(name: str, context: Mapping[str, Any]) -> str:
    """One shipped template (e.g. a footer partial)."""
    from jinja2 import TemplateError

    from messenger.domain.sandbox import render_bounded

    try:
        return render_bounded(_string_env(name.endswith(".html")).get_template(name), context)
    except TemplateError as err:
        raise InvalidInput(
            f"template {name!r} failed to render: {_safe(err)}", field="template"
        ) from None


def render_string(
    source: str, context: Mapping[str, Any], *, field: str, html: bool = False
) -> str:
    """Render one stored template string; any failure is an InvalidInput naming `field`."""
    from jinja2 import TemplateError

    from messenger.domain.sandbox import render_bounded

    try:
        return render_bounded(_string_env(html).from_string(source), context)
    except TemplateError as err:
        raise InvalidInput(f"{field} failed to render: {_safe(err)}", field=field) from None
    except Exception as err:
        raise InvalidInput(f"{field} failed to render: {type(err).__name__}", field=field) from None


def check_string(source: str, *, field: str, html: bool = False) -> None:
    """Compile without rendering: syntax errors are reported when a message is saved."""
    from jinja2 import TemplateError

    try:
        _string_env(html).parse(source)
    except TemplateError as err:
        raise InvalidInput(f"{field} is not a valid template: {_safe(err)}", field=field) from None


def _walk_flex(value: Any, path: str, context: Mapping[str, Any] | None) -> Any:
    if isinstance(value, str):
        if context is None:
            check_string(value, field=path)
            return value
        return render_string(value, context, field=path)
    if isinstance(value, Mapping):
        return {k: _walk_flex(v, f"{path}.{k}", context) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_walk_flex(v, f"{path}.{i}", context) for i, v in enumerate(value)]
    return value


def check_message(message: Message) -> None:
    """Every template of the message compiles (raises InvalidInput naming the field)."""
    if message.email is not None:
        check_string(message.email.subject, field="email.subject")
        check_string(message.email.html, field="email.html", html=True)
        check_string(message.email.text, field="email.text")
    if message.line is not None:
        if message.line.text is not None:
            check_string(message.line.text, field="line.text")
        if message.line.flex is not None:
            _walk_flex(message.line.flex, "line.flex", None)
        if message.line.alt_text is not None:
            check_string(message.line.alt_text, field="line.alt_text")
        _walk_flex(list(message.line.quick_reply), "line.quick_reply", None)
    if message.sms is not None:
        check_string(message.sms.text, field="sms.text")


def _with_footer(body: str, footer: str, html: bool) -> str:
    if html and "</body>" in body:
        head, _, tail = body.rpartition("</body>")
        return f"{head}{footer}</body>{tail}"
    return f"{body.rstrip()}\n\n{footer}" if not html else f"{body}{footer}"


def render_channel(
    message: Message, channel: str, context: Mapping[str, Any], locale: str
) -> Rendered:
    """Render one channel's content. Marketing mail and SMS get the legal footer (sender
    identity and the unsubscribe link, 特定電子メール法) whatever the template says."""
    content = message.content_for(channel)
    if content is None:
        raise InvalidInput(f"message has no {channel} content", field="channel")
    marketing = message.category == "marketing"
    if isinstance(content, EmailContent):
        subject = render_string(content.subject, context, field="email.subject")
        html = render_string(content.html, context, field="email.html", html=True)
        text = render_string(content.text, context, field="email.text")
        if marketing:
            html = _with_footer(html, render_file(f"_footer.{locale}.html", context), html=True)
            text = _with_footer(text, render_file(f"_footer.{locale}.txt", context), html=False)
        return RenderedEmail(subject=" ".join(subject.split()), html=html, text=text)
    if isinstance(content, LineContent):
        return _checked_line(content, context)
    assert isinstance(content, SmsContent)
    text = render_string(content.text, context, field="sms.text").strip()
    if marketing:
        text = f"{text}\n{render_file(f'_footer.{locale}.sms.txt', context).strip()}"
    length = sms_length(text)
    if length.parts > MAX_PARTS:
        raise InvalidInput(
            f"sms.text comes out at {length.parts} parts with the legal footer; "
            f"at most {MAX_PARTS} are sent",
            field="sms.text",
        )
    return RenderedSms(text=text, length=length)


def _checked_line(content: LineContent, context: Mapping[str, Any]) -> RenderedLine:
    """The rendered LINE message, refused here (naming the field) when LINE would refuse
    it: a 400 for the content must never reach the provider or look like the person.
    (The LINE channel checks the whole body against LINE's spec before it is sent.)"""
    quick_reply = tuple(_walk_flex(list(content.quick_reply), "line.quick_reply", context))
    if content.flex is None:
        text = render_string(content.text or "", context, field="line.text")
        if not text.strip() or len(text) > LINE_TEXT_MAX:
            raise InvalidInput(
                f"line.text renders to {len(text)} characters; LINE needs 1 to {LINE_TEXT_MAX}",
                field="line.text",
            )
        return RenderedLine(text=text, quick_reply=quick_reply)
    flex = _walk_flex(content.flex, "line.flex", context)
    if flex.get("type") not in FLEX_CONTAINERS:
        raise InvalidInput(
            f"a flex message's contents.type is one of {FLEX_CONTAINERS}", field="line.flex.type"
        )
    alt = render_string(content.alt_text or "", context, field="line.alt_text").strip()
    if not alt or len(alt) > LINE_ALT_TEXT_MAX:
        raise InvalidInput(
            f"line.alt_text renders to {len(alt)} characters; LINE needs 1 to {LINE_ALT_TEXT_MAX}",
            field="line.alt_text",
        )
    return RenderedLine(flex=flex, alt_text=alt, quick_reply=quick_reply)
