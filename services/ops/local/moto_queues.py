"""moto's SQS and EventBridge without costs that grow with the queue: the local stack's
event fan-out at the speed of its handlers.

Every event the stack publishes goes through moto's EventBridge to one SQS queue per
consumer, and the stack's pollers receive and delete it there. moto 5.2.5 makes each of
those steps walk every message of the queue, several times, so a backlog slows every
later send and receive, which grows the backlog (600 orders took 6 minutes to drain):

1. `Queue.attributes` (moto.sqs.models) builds every attribute each time it is read,
   including the three message counts (each a walk over all messages). `send_message`
   reads it for `ContentBasedDeduplication`, `receive_message` for each received message
   (`is_message_valid_based_on_retention_period` asks for `MessageRetentionPeriod`), and
   `get_queue_attributes` once per requested name.
2. `Queue.messages` and the counts ask `Message.visible` / `Message.delayed`, each of
   which reads the clock (`unix_time_millis`) again, for every message.
3. `EventTemplateParser.parse` (moto.events.utils), run once per rule target per event,
   compiles its eight JSONPath expressions with `jsonpath_ng.ext.parse`, which builds a
   PLY parser each time.

`install()` mends them where moto does it: `Queue.attributes` answers a mapping that
computes an attribute when it is read (the same names, values and order: a test compares
both), `Queue.messages` and the counts read the clock once per call, and
`jsonpath_ng.ext.parse` keeps the expressions it compiled (they are not changed by
`find`). `check_compatible()` fails loudly when a moto upgrade changes any of these.

Upstream: getmoto/moto ("SQS: Queue.attributes recomputes message counts on every send
and receive"): a lazy attribute view and one clock read per scan are the proposal.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ops.local.moto_dynamodb import MOTO_VERSION, MotoInternalsChanged

_install_lock = threading.Lock()
_installed = False
_original_attributes: Callable[[Any], dict[str, Any]] | None = None
"""moto's own `Queue.attributes` getter, kept for the equivalence test."""


def check_compatible() -> None:
    """Raise `MotoInternalsChanged` unless moto looks the way this module relies on."""
    import jsonpath_ng.ext
    import moto
    from moto.sqs.models import Message, Queue

    problems = []
    if moto.__version__ != MOTO_VERSION:
        problems.append(f"moto is {moto.__version__}, this module was checked on {MOTO_VERSION}")
    for name in ("attributes", "messages", "approximate_number_of_messages_delayed"):
        if not isinstance(getattr(Queue, name, None), property):
            problems.append(f"Queue.{name} is no longer a property")
    for name in ("BASE_ATTRIBUTES", "FIFO_ATTRIBUTES", "KMS_ATTRIBUTES"):
        if not isinstance(getattr(Queue, name, None), list):
            problems.append(f"Queue.{name} is not a list")
    for name in ("visible", "delayed"):
        if not isinstance(getattr(Message, name, None), property):
            problems.append(f"Message.{name} is no longer a property")
    if not callable(getattr(jsonpath_ng.ext, "parse", None)):
        problems.append("jsonpath_ng.ext.parse is gone")
    if problems:
        raise MotoInternalsChanged("; ".join(problems))


def install() -> None:
    """Patch moto's SQS and EventBridge in this process (idempotent)."""
    global _installed, _original_attributes  # noqa: PLW0603 - process-wide, as moto's backends
    with _install_lock:
        if _installed:
            return
        check_compatible()
        import jsonpath_ng.ext
        from moto.sqs.models import Queue

        attributes = Queue.attributes
        assert isinstance(attributes, property) and attributes.fget is not None
        _original_attributes = attributes.fget
        Queue.attributes = property(QueueAttributes)
        Queue.messages = property(_visible_messages)
        Queue.approximate_number_of_messages_delayed = property(_delayed_count)
        Queue.approximate_number_of_messages_not_visible = property(_invisible_count)
        jsonpath_ng.ext.parse = functools.lru_cache(maxsize=256)(jsonpath_ng.ext.parse)
        _installed = True


class QueueAttributes(Mapping[str, Any]):
    """`Queue.attributes` as moto builds it, each value computed when it is read."""

    def __init__(self, queue: Any) -> None:
        self._queue = queue
        names = list(queue.BASE_ATTRIBUTES)
        if queue.fifo_queue:
            names += queue.FIFO_ATTRIBUTES
        if queue.kms_master_key_id:
            names += queue.KMS_ATTRIBUTES
        self._names = dict.fromkeys(names)

    def __getitem__(self, name: str) -> Any:
        if name not in self._names:
            raise KeyError(name)
        from moto.core.utils import camelcase_to_underscores

        queue = self._queue
        if name == "RedrivePolicy" and queue.redrive_policy:
            import json

            return json.dumps(queue.redrive_policy)
        value = getattr(queue, camelcase_to_underscores(name))
        return str(value).lower() if isinstance(value, bool) else value

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def _now_millis() -> float:
    from moto.core.utils import unix_time_millis

    return unix_time_millis()


def _visible_messages(queue: Any) -> list[Any]:
    """`Queue.messages`: visible and not delayed, with one clock read for the scan."""
    now = _now_millis()
    return [m for m in queue._messages if now > m.visible_at and not now < m.delayed_until]


def _delayed_count(queue: Any) -> int:
    now = _now_millis()
    return sum(1 for m in queue._messages if now < m.delayed_until)


def _invisible_count(queue: Any) -> int:
    now = _now_millis()
    return sum(1 for m in queue._messages if not now > m.visible_at)


def original_attributes(queue: Any) -> dict[str, Any]:
    """What moto's own `Queue.attributes` answers (for the equivalence test)."""
    if _original_attributes is None:
        raise RuntimeError("install() has not run")
    return _original_attributes(queue)
