"""Templates of the hosted pages (Japanese, mobile first, autoescaped Jinja2).

Kept as strings in the package so the Lambda bundle needs no data files. Jinja2 loads
with the first page rendered, not at the API's cold start."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2 import Environment

_BASE = """<!doctype html>
<html lang="ja">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{% block title %}{{ title }}{% endblock %}</title>
<style>
  :root { --accent: #b5485d; --ink: #222; --muted: #666; --line: #ddd; --bg: #faf7f5; }
  * { box-sizing: border-box; }
  body { margin: 0; background: var(--bg); color: var(--ink); line-height: 1.6;
         font-family: "Hiragino Sans", "Noto Sans CJK JP", "Noto Sans JP", "Yu Gothic",
         system-ui, sans-serif; font-size: 17px; }
  main { max-width: 560px; margin: 0 auto; padding: 20px 16px 48px; }
  h1 { font-size: 1.35rem; margin: 8px 0 4px; }
  p.lead { color: var(--muted); margin: 0 0 20px; }
  fieldset { border: 0; margin: 0 0 18px; padding: 16px; background: #fff;
             border-radius: 12px; box-shadow: 0 1px 3px rgba(0,0,0,.08); }
  fieldset.invalid { outline: 2px solid #d33; }
  legend { font-weight: 700; padding: 0; margin-bottom: 10px; float: left; width: 100%; }
  legend + * { clear: both; }
  .req { color: #d33; font-size: .8rem; margin-left: 6px; font-weight: 400; }
  .opt { color: var(--muted); font-size: .8rem; margin-left: 6px; font-weight: 400; }
  .choice { display: flex; align-items: center; gap: 12px; min-height: 52px; padding: 10px 14px;
            margin: 8px 0; border: 1px solid var(--line); border-radius: 10px; cursor: pointer; }
  .choice input { width: 24px; height: 24px; accent-color: var(--accent); flex: none; }
  .choice:has(input:checked) { border-color: var(--accent); background: #fbeff1; }
  .scale { display: grid; gap: 6px; }
  .scale.nps { grid-template-columns: repeat(6, 1fr); }
  .scale.rating { grid-template-columns: repeat(5, 1fr); }
  .scale label { position: relative; }
  .scale input { position: absolute; opacity: 0; inset: 0; margin: 0; cursor: pointer; }
  .scale span { display: flex; align-items: center; justify-content: center; min-height: 48px;
                border: 1px solid var(--line); border-radius: 10px; background: #fff;
                font-weight: 700; }
  .scale input:checked + span { background: var(--accent); color: #fff;
                                border-color: var(--accent); }
  .scale input:focus-visible + span { outline: 3px solid #f3b8c3; }
  .ends { display: flex; justify-content: space-between; color: var(--muted); font-size: .8rem;
          margin-top: 6px; }
  textarea { width: 100%; min-height: 120px; padding: 12px; font: inherit; border-radius: 10px;
             border: 1px solid var(--line); }
  .error { color: #d33; font-size: .9rem; margin: 6px 0 0; }
  button { width: 100%; min-height: 56px; border: 0; border-radius: 12px; background: var(--accent);
           color: #fff; font: inherit; font-weight: 700; font-size: 1.1rem; cursor: pointer; }
  .notice { background: #fff; border-radius: 12px; padding: 24px 16px; text-align: center;
            box-shadow: 0 1px 3px rgba(0,0,0,.08); }
</style>
</head>
<body><main>{% block body %}{% endblock %}</main></body>
</html>
"""

_SURVEY = """{% extends "base.html" %}
{% block body %}
<h1>{{ survey.title }}</h1>
{% if survey.description %}<p class="lead">{{ survey.description }}</p>{% endif %}
{% if form_error %}<p class="error" role="alert">{{ form_error }}</p>{% endif %}
<form method="post" novalidate>
<input type="hidden" name="version" value="{{ survey.version }}">
{% for q in survey.questions %}
{% set err = errors.get(q.question_id) %}
{% set given = values.get(q.question_id) %}
<fieldset id="q-{{ q.question_id }}" class="{{ 'invalid' if err }}" data-kind="{{ q.kind }}">
  <legend>{{ q.text }}{% if q.required %}<span class="req">必須</span>
    {%- else %}<span class="opt">任意</span>{% endif %}</legend>
  {% if q.kind == "single" or q.kind == "multiple" %}
    {% for o in q.options %}
    <label class="choice">
      <input type="{{ 'radio' if q.kind == 'single' else 'checkbox' }}" name="q.{{ q.question_id }}"
             value="{{ o.option_id }}"{% if given and o.option_id in given %} checked{% endif %}>
      <span>{{ o.label }}</span>
    </label>
    {% endfor %}
  {% elif q.kind == "rating" or q.kind == "nps" %}
    <div class="scale {{ q.kind }}">
    {% for v in (range(1, 6) if q.kind == "rating" else range(0, 11)) %}
      <label><input type="radio" name="q.{{ q.question_id }}" value="{{ v }}"
        aria-label="{{ v }}"{% if given and given[0] == v|string %} checked{% endif %}>
        <span>{{ v }}</span></label>
    {% endfor %}
    </div>
    <div class="ends">{% if q.kind == "nps" %}
      <span>0 = 全く思わない</span><span>10 = 非常にそう思う</span>
    {% else %}<span>1 = 不満</span><span>5 = 満足</span>{% endif %}</div>
  {% else %}
    <textarea name="q.{{ q.question_id }}" maxlength="2000"
      aria-label="{{ q.text }}">{{ given[0] if given }}</textarea>
  {% endif %}
  {% if err %}<p class="error" role="alert">{{ err }}</p>{% endif %}
</fieldset>
{% endfor %}
<button type="submit">回答を送信する</button>
</form>
{% endblock %}
"""

_NOTICE = """{% extends "base.html" %}
{% block body %}
<div class="notice" id="notice" data-state="{{ state }}">
  <h1>{{ title }}</h1>
  <p>{{ message }}</p>
  {% if action %}
  <form method="post"><button type="submit">{{ action }}</button></form>
  {% endif %}
</div>
{% endblock %}
"""


@cache
def _env() -> Environment:
    from jinja2 import DictLoader, Environment, select_autoescape

    return Environment(
        loader=DictLoader({"base.html": _BASE, "survey.html": _SURVEY, "notice.html": _NOTICE}),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )


def render(template: str, **context: Any) -> str:
    return _env().get_template(template).render(**context)


def notice(state: str, title: str, message: str, action: str | None = None) -> str:
    return render("notice.html", state=state, title=title, message=message, action=action)
