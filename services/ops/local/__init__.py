"""The local stack: the SAM template run on moto in one process, no AWS account needed.

`template` parses the template (pure), `schedule` reads rate/cron expressions (pure),
`router` serves the HTTP routes, `sandbox` shows would-be messages, `recording` keeps
state across restarts, and `stack.LocalStack` puts them together.
"""

from ops.local.stack import (
    DeadLetter,
    HandlerFailure,
    LocalStack,
    LocalStackError,
    UnknownScheduleError,
    find_template,
)
from ops.local.template import FunctionSpec, functions, load_template

__all__ = [
    "DeadLetter",
    "FunctionSpec",
    "HandlerFailure",
    "LocalStack",
    "LocalStackError",
    "UnknownScheduleError",
    "find_template",
    "functions",
    "load_template",
]
