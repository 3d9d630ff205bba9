"""The journey-dispatcher tick (every minute): the due queue, then the campaign waves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from messenger.services.campaigns import Campaigns
from messenger.services.due import DueQueue
from messenger.services.sending import SendOutcome
from shared.log import get_logger

if TYPE_CHECKING:
    from messenger.services.journeys.dispatch import JourneyDispatch

_log = get_logger("kizuna.messenger.services.dispatcher")


@dataclass(frozen=True)
class Dispatcher:
    due: DueQueue
    campaigns: Campaigns
    journeys: JourneyDispatch

    def tick(self) -> dict[str, Any]:
        """Every minute: deferred sends (cap, quiet hours, active hour) and retries that are
        due, then the waves of scheduled and running campaigns (a bounded slice each tick).
        Then the journeys' due steps: each due shard fanned out to a worker (SQS), or
        worked here when no queue is configured. Each step runs even when the one
        before it failed (logged, and named in the summary)."""
        errors: dict[str, str] = {}
        outcomes: list[SendOutcome] = []
        campaigns: dict[str, Any] = {}
        try:
            outcomes = self.due.dispatch()
        except Exception as err:
            errors["due_steps"] = _step_failed("due_steps", err)
        shops: dict[str, Any] = {}
        try:
            run = self.campaigns.tick()  # each shop isolated: one failing shop is named, not fatal
            campaigns = {k: v for ran in run.results.values() for k, v in ran.items()}
            if run.failed:
                shops = run.report()
        except Exception as err:
            errors["campaigns"] = _step_failed("campaigns", err)
        journeys: dict[str, Any] = {}
        try:
            journeys = self.journeys.tick()
        except Exception as err:
            errors["journeys"] = _step_failed("journeys", err)
        by_status: dict[str, int] = {}
        for o in outcomes:
            by_status[o.status] = by_status.get(o.status, 0) + 1
        summary = {
            "due_steps": len(outcomes),
            "by_status": by_status,
            "campaigns": campaigns,
            "journeys": journeys,
            **({"campaign_shops": shops} if shops else {}),
        }
        return {**summary, "errors": errors} if errors else summary


def _step_failed(step: str, err: Exception) -> str:
    """Log a failed dispatcher step by its name and error type only (no personal data)."""
    _log.error("dispatcher step failed", extra={"step": step, "error": type(err).__name__})
    return type(err).__name__
