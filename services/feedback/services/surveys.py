"""Survey use cases: define and edit (versions), answer (API or hosted page), results."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from feedback.domain.records import SurveyHead
from feedback.services.common import UseCase
from feedback.services.messages import message_request
from feedback.services.ports import SurveyStore
from shared.adapters.dynamodb import Position
from shared.contracts.channels import Channel
from shared.contracts.envelope import EventEnvelope
from shared.errors import Conflict, InvalidInput, NotFound
from shared.log import get_logger
from shared.paging import page_after

if TYPE_CHECKING:  # the aggregation, the events' contracts, the survey definitions, the
    # tokens and the outcomes load on first use (a cold start's first request lists heads)
    from feedback.domain import results as agg
    from feedback.domain.surveys import Response, Survey, SurveyLink
    from feedback.services.outcomes import (
        Answered,
        PageState,
        RespondentFilter,
        RespondentPage,
        SurveyResults,
    )

_log = get_logger("kizuna.feedback.surveys")


# ---------------------------------------------------------------------------- responses


def _answered_event(
    shop_id: str,
    survey_id: str,
    version: int,
    response_id: str,
    customer_id: str,
    preferences: dict[str, list[str]],
    now: datetime,
) -> EventEnvelope:
    from shared.contracts.details import SurveyAnswered

    detail = SurveyAnswered(
        survey_id=survey_id,
        survey_version=version,
        response_id=response_id,
        customer_id=customer_id,
        preferences=preferences,
    )
    return EventEnvelope(
        id=_event_id("survey.answered", shop_id, survey_id, response_id),
        shop=shop_id,
        type="survey.answered",
        time=now,
        detail=detail.model_dump(mode="json"),
    )


def _event_id(prefix: str, *parts: str) -> str:
    return f"{prefix}:{hashlib.sha256('|'.join(parts).encode()).hexdigest()[:40]}"


# ---------------------------------------------------------------------------- links and page


# ---------------------------------------------------------------------------- results


class Surveys(UseCase[SurveyStore]):
    """Survey use cases: define and edit (versions), answer (API or hosted page),
    invitations, results, and the membership copy results are read by."""

    def create_survey(
        self,
        shop_id: str,
        survey_id: str,
        title: str,
        questions: Sequence[Mapping[str, Any]],
        description: str = "",
    ) -> Survey:
        from feedback.domain.surveys import define_survey

        survey = define_survey(shop_id, survey_id, 1, title, questions, self.clock(), description)
        self.repo.put_survey_version(survey)
        return survey

    def edit_survey(
        self,
        shop_id: str,
        survey_id: str,
        title: str,
        questions: Sequence[Mapping[str, Any]],
        description: str = "",
    ) -> Survey:
        """A new version; earlier responses keep pointing at the version they answered. A
        question id keeps its kind (results add its answers up across versions)."""
        from feedback.domain.surveys import check_kinds_kept, define_survey

        versions = self.repo.survey_versions(shop_id, survey_id)
        if not versions:
            raise NotFound(f"no survey {survey_id}", field="survey_id")
        latest = max(s.version for s in versions)
        survey = define_survey(
            shop_id, survey_id, latest + 1, title, questions, self.clock(), description
        )
        check_kinds_kept(versions, survey)
        self.repo.put_survey_version(survey)
        return survey

    def get_survey(self, shop_id: str, survey_id: str, version: int | None = None) -> Survey:
        survey = self.repo.get_survey(shop_id, survey_id, version)
        if survey is None:
            if version is not None and self.repo.get_survey(shop_id, survey_id) is not None:
                raise InvalidInput(
                    f"survey {survey_id} has no version {version}", field="survey_version"
                )
            raise NotFound(f"no survey {survey_id}", field="survey_id")
        return survey

    def list_surveys(
        self, shop_id: str, limit: int, after: Position | None
    ) -> tuple[list[SurveyHead], Position | None]:
        """One page of the shop's surveys by id, and where the next one starts."""
        return self.repo.list_surveys(shop_id, limit, after)

    def submit_response(
        self,
        shop_id: str,
        survey_id: str,
        response_id: str,
        customer_id: str,
        answers: Mapping[str, Any],
        survey_version: int | None = None,
        source: Literal["api", "page"] = "api",
    ) -> Answered:
        """Validate against the survey version, store once, publish `survey.answered`.

        The same response id with the same content is a duplicate (nothing changes; the event
        is published again under the same id, which consumers deduplicate). The same id with
        different content is refused. A retry that names no version is read against the
        version the response was stored with, so an edit in between does not turn a retry
        into a conflict."""
        from feedback.domain.surveys import Response, preferences_of, validate_answers
        from feedback.services.outcomes import Answered

        if survey_version is None:
            earlier = self.repo.get_response(shop_id, response_id)
            if earlier is not None and earlier.survey_id == survey_id:
                survey_version = earlier.survey_version
        survey = self.get_survey(shop_id, survey_id, survey_version)
        valid = validate_answers(survey, answers)
        response = Response(
            shop_id=shop_id,
            survey_id=survey_id,
            survey_version=survey.version,
            response_id=response_id,
            customer_id=customer_id,
            answers=valid,
            answered_at=self.clock(),
            source=source,
            segments=self.repo.segments_of(shop_id, customer_id),
        )
        preferences = preferences_of(survey, valid)
        outcome, stored = self.repo.save_response(response, preferences)
        if outcome == "conflict":
            raise Conflict(
                f"response {response_id} was already submitted with other answers",
                field="response_id",
            )
        if stored is not None:
            response_version, preferences = stored.survey_version, stored.preferences
        else:
            response_version = survey.version
        self.publisher.publish(
            [
                _answered_event(
                    shop_id,
                    survey_id,
                    response_version,
                    response_id,
                    customer_id,
                    preferences,
                    self.clock(),
                )
            ]
        )
        _log.info(
            "survey response",
            extra={"survey_id": survey_id, "response_id": response_id, "outcome": outcome},
        )
        return Answered(
            response_id, survey_id, response_version, preferences, outcome == "duplicate"
        )

    def survey_link(
        self,
        shop_id: str,
        survey_id: str,
        customer_id: str,
        nonce: str | None = None,
    ) -> tuple[str, str, datetime]:
        """(token, page URL, expiry) of a signed per-customer link to the hosted page."""
        self.get_survey(shop_id, survey_id)
        return self._signed_link(shop_id, survey_id, customer_id, nonce)

    def _signed_link(
        self, shop_id: str, survey_id: str, customer_id: str, nonce: str | None
    ) -> tuple[str, str, datetime]:
        """The link itself, for a survey the caller has already read (no DynamoDB call)."""
        from feedback.domain import tokens

        expires_at = self.clock() + timedelta(days=self.settings.survey_link_days)
        nonce = nonce or secrets.token_urlsafe(12)
        token = tokens.sign(
            self.secret, "survey", [shop_id, survey_id, customer_id, nonce], expires_at
        )
        return token, self.url(f"/f/s/{token}"), expires_at

    def read_link(self, token: str) -> SurveyLink:
        from feedback.domain import tokens
        from feedback.domain.surveys import SurveyLink

        (shop_id, survey_id, customer_id, nonce), expires_at = tokens.read(
            self.secret, "survey", token, self.clock(), size=4
        )
        assert expires_at is not None
        return SurveyLink(shop_id, survey_id, customer_id, nonce, expires_at)

    def open_page(self, token: str) -> PageState:
        """What the hosted page shows for a link: the latest version, or 'already answered'."""
        from feedback.services.outcomes import PageState

        link = self.read_link(token)
        survey = self.get_survey(link.shop_id, link.survey_id)
        answered = self.repo.get_response(link.shop_id, link.response_id) is not None
        return PageState(link, survey, answered)

    def page_version(self, token: str, version: str) -> Survey:
        """The survey a posted page answers: the version the form was rendered from (the
        form's `version`), which may be older than the latest."""
        survey = self.open_page(token).survey
        if version.isascii() and version.isdigit() and int(version) != survey.version:
            survey = self.get_survey(survey.shop_id, survey.survey_id, int(version))
        return survey

    def submit_page(self, token: str, version: int, answers: Mapping[str, Any]) -> Answered:
        """A response from the hosted page: the link decides shop, survey and customer, and
        the response id (one per link, so submitting twice is the same response)."""
        link = self.read_link(token)
        return self.submit_response(
            link.shop_id,
            link.survey_id,
            link.response_id,
            link.customer_id,
            answers,
            survey_version=version,
            source="page",
        )

    def invite(
        self,
        shop_id: str,
        survey_id: str,
        invitation_id: str,
        customer_ids: Sequence[str],
        channel: Channel | None = None,
    ) -> int:
        """Ask the messenger to send each customer their own survey link (marketing). The same
        invitation id gives the same links and request ids, so retrying sends nothing twice."""
        from shared.contracts.details import MessageRecipient

        survey = self.get_survey(shop_id, survey_id)
        now = self.clock()
        envelopes = []
        for customer_id in dict.fromkeys(customer_ids):
            nonce = hashlib.sha256(
                f"{survey_id}|{invitation_id}|{customer_id}".encode()
            ).hexdigest()
            _, url, expires_at = self._signed_link(shop_id, survey_id, customer_id, nonce[:16])
            envelopes.append(
                message_request(
                    shop_id=shop_id,
                    request_id=_event_id(
                        "fb-survey", shop_id, survey_id, invitation_id, customer_id
                    ),
                    recipient=MessageRecipient(customer_id=customer_id),
                    channel=channel,
                    category="marketing",
                    template="survey_invitation",
                    variables={
                        "survey_id": survey_id,
                        "survey_title": survey.title,
                        "survey_url": url,
                        "expires_at": expires_at.isoformat(),
                    },
                    requested_by="feedback.survey.invitation",
                    now=now,
                    expires_at=expires_at,
                )
            )
        self.publisher.publish(envelopes)
        return len(envelopes)

    def results(
        self,
        shop_id: str,
        survey_id: str,
        *,
        version: int | None = None,
        segment_id: str | None = None,
        bucket: agg.Bucket | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> SurveyResults:
        """Counts, NPS and texts for a survey (all versions unless one is named), for the
        customers who were in `segment_id` when they answered, overall and per bucket."""
        from feedback.domain import results as agg
        from feedback.services.outcomes import SurveyResults

        versions, found = self._answered(shop_id, survey_id, version, segment_id, since, until)
        latest = max(versions, key=lambda s: s.version)
        return SurveyResults(
            survey=latest,
            version=version,
            segment_id=segment_id,
            bucket=bucket,
            total=agg.summarize(versions, found),
            buckets=agg.over_time(versions, found, bucket) if bucket else [],
        )

    def _answered(
        self,
        shop_id: str,
        survey_id: str,
        version: int | None,
        segment_id: str | None,
        since: datetime | None,
        until: datetime | None,
    ) -> tuple[list[Survey], list[Response]]:
        """The versions and the responses results and respondents read, filtered alike."""
        from feedback.domain import results as agg

        versions = self.repo.survey_versions(shop_id, survey_id)
        if not versions:
            raise NotFound(f"no survey {survey_id}", field="survey_id")
        if version is not None:
            versions = [v for v in versions if v.version == version]
            if not versions:
                raise InvalidInput(f"survey {survey_id} has no version {version}", field="version")
        if since and until and since >= until:
            raise InvalidInput("since must be before until", field="since")
        found = self.repo.responses(shop_id, survey_id, since, until)
        if version is not None:
            found = [r for r in found if r.survey_version == version]
        return versions, agg.in_segment(found, segment_id)

    def respondents(
        self,
        shop_id: str,
        survey_id: str,
        filters: RespondentFilter,
        limit: int,
        after: str | None,
    ) -> RespondentPage:
        """A page of the customers behind one figure of `results` (same filters): the
        survey's respondents, a question's, an NPS group's or one answer's."""
        from feedback.domain import results as agg
        from feedback.services.outcomes import RespondentPage

        versions, found = self._answered(
            shop_id, survey_id, filters.version, filters.segment_id, filters.since, filters.until
        )
        who = agg.respondents(versions, found, filters.question_id, filters.group, filters.answer)
        page, next_after = page_after(who.customer_ids, limit, after)
        return RespondentPage(survey_id, who, page, next_after)

    def record_membership(
        self,
        shop_id: str,
        customer_id: str,
        segment_id: str,
        member: bool,
        at: datetime,
    ) -> bool:
        """Keep the feedback service's own copy of segment membership (from the segmenter's
        events), so results by segment never read another service's table."""
        return self.repo.set_membership(shop_id, customer_id, segment_id, member, at)
