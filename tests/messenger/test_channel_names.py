"""Channel knowledge lives in `messenger/channels/`: no other messenger module names a
channel by its string ("email", "line", "sms"); they use `messenger.channels.names` (the
plain names, which the domain can read) or `messenger.channels.kinds` (the classes)."""

from __future__ import annotations

import ast
from pathlib import Path

from messenger.channels.kinds import KINDS
from messenger.channels.names import ADDRESS_FIELDS, CHANNELS

MESSENGER = Path(__file__).resolve().parents[2] / "services" / "messenger"
NAMES = {"email", "line", "sms"}


def _named(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value in NAMES and id(node) not in docstrings
    ]


def test_no_module_outside_channels_names_a_channel_by_its_string() -> None:
    found = {
        str(p.relative_to(MESSENGER)): lines
        for p in sorted(MESSENGER.rglob("*.py"))
        if p.relative_to(MESSENGER).parts[0] != "channels" and (lines := _named(p))
    }
    assert found == {}


def test_the_names_and_the_channel_classes_list_the_same_channels() -> None:
    """Given the plain names the domain reads and the channel classes the pipeline reads
    When they are compared
    Then they list the same channels, so a new channel cannot be half added."""
    assert tuple(KINDS) == CHANNELS
    assert set(ADDRESS_FIELDS) == set(CHANNELS)
