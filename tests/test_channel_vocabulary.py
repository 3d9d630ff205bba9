"""The channels are spelled in one place for every service: `shared.contracts.channels`
(the messenger's channel modules aside, which `tests/messenger/test_channel_names.py`
holds to a stricter rule). A service that lists the channels, keys a table by them or
branches on one by its string would keep a copy that a new channel does not reach.

Read from the source (AST). The operator tooling (`ops/`) is left out: the demo writes
public-API bodies as a shop's own code would, and the local sandbox names what moto
recorded ("mail")."""

from __future__ import annotations

import ast
from pathlib import Path

from messenger.channels.names import CHANNELS as MESSENGER_CHANNELS
from shared.contracts.channels import CHANNELS, Channel

SERVICES = Path(__file__).resolve().parents[1] / "services"
NAMES = {"email", "line", "sms"}
VOCABULARY = SERVICES / "shared" / "contracts" / "channels.py"


def _is_name(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value in NAMES


def _channel_knowledge(source: str) -> list[int]:
    """Lines that list two channels (a tuple, list, set or `Literal[...]`), key a dict by
    two, or compare a value with a channel's name."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            listed = sum(map(_is_name, node.elts))
        elif isinstance(node, ast.Dict):
            listed = sum(map(_is_name, node.keys))
        elif isinstance(node, ast.Compare):
            listed = 2 * any(map(_is_name, [node.left, *node.comparators]))
        else:
            continue
        if listed >= 2:
            found.append(node.lineno)
    return sorted(found)


def _checked() -> list[Path]:
    return [
        p
        for p in sorted(SERVICES.rglob("*.py"))
        if p.relative_to(SERVICES).parts[0] not in ("messenger", "ops") and p != VOCABULARY
    ]


def test_no_service_keeps_its_own_copy_of_the_channels() -> None:
    """Given every module of the segmenter, feedback, console and shared (but the
    vocabulary itself)
    When their code is read
    Then none lists the channels, keys a table by them or compares with one's name."""
    modules = _checked()
    assert len(modules) > 100
    found = {
        str(p.relative_to(SERVICES)): lines
        for p in modules
        if (lines := _channel_knowledge(p.read_text(encoding="utf-8")))
    }
    assert found == {}


def test_the_check_sees_a_copy() -> None:
    """Given code that lists, keys by and compares with channel names
    When the check reads it
    Then it names each line (a broken walk would find nothing anywhere)."""
    source = (
        'A = ("email", "line", "sms")\n'
        'B: Literal["email", "sms"]\n'
        'C = {"email": 1, "line": 2}\n'
        'if channel == "sms": pass\n'
        'D = {"email": contact.email, "phone": contact.phone}\n'
    )
    assert _channel_knowledge(source) == [1, 2, 3, 4]


def test_the_messenger_and_the_contract_name_the_same_channels() -> None:
    """Given the contract's vocabulary and the messenger's names
    When they are compared
    Then they are one list, in the contract's `Literal` order."""
    assert CHANNELS == ("email", "line", "sms") == MESSENGER_CHANNELS
    assert Channel.__args__ == CHANNELS  # type: ignore[attr-defined]
