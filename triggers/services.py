"""Trigger writes: create, change, delete, rotate the secret; and one push hook delivery, end to end.

A delivery is authenticated by the provider's signature before anything about it is stored. A
signed one is recorded with its outcome in the same transaction as the build it makes, under a
unique (trigger, delivery id): a redelivery, or two racing copies, make one build.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from builds import validators
from builds.models import Build, Project
from builds.services import builds as build_services
from imagefactory.core.errors import ApiError, Forbidden, InvalidRequest, Unauthorized
from triggers import providers, selectors
from triggers.models import DELIVERIES_KEPT, DeliveryOutcome, Trigger, TriggerDelivery

logger = logging.getLogger(__name__)


class Unprocessable(ApiError):
    status_code, code, default_message = 422, "UNPROCESSABLE_ENTITY", "The payload cannot be processed"


class PayloadTooLarge(ApiError):
    status_code, code, default_message = 413, "PAYLOAD_TOO_LARGE", "Request body is too large"


def new_secret() -> str:
    return secrets.token_hex(32)


def create_trigger(*, project: Project, **fields: Any) -> tuple[Trigger, str]:
    """The new trigger and its secret (the one time it is shown)."""
    secret = new_secret()
    fields.setdefault("branch_patterns", [project.default_branch])
    trigger = Trigger.objects.create(tenant=project.tenant, project=project, secret=secret, **fields)
    return trigger, secret


def update_trigger(*, trigger: Trigger, **fields: Any) -> Trigger:
    for name, value in fields.items():
        setattr(trigger, name, value)
    trigger.save(update_fields=[*fields, "updated_at"])
    return trigger


def delete_trigger(*, trigger: Trigger) -> None:
    trigger.delete()  # its builds stay, with `trigger` set to null; its deliveries go


def rotate_secret(*, trigger: Trigger) -> str:
    """A new secret; the old one stops working at once."""
    secret = new_secret()
    trigger.secret = secret
    trigger.save(update_fields=["secret", "updated_at"])
    return secret


# --- one delivery -------------------------------------------------------------------------------


@dataclass
class HookAnswer:
    status_code: int
    outcome: str
    message: str
    delivery_id: str
    event: str
    build: Build | None = None
    duplicate: bool = False
    error: ApiError | None = None


def receive_delivery(*, trigger: Trigger, body: bytes, headers: Mapping[str, str]) -> HookAnswer:
    """Handles one delivery to `trigger`; raises the envelope's error for 4xx outcomes (after recording them)."""
    if not providers.signature_valid(trigger.kind, secret=trigger.secret, body=body, headers=headers):
        raise Unauthorized("The delivery's signature is missing or wrong", details={"trigger_kind": trigger.kind})
    event = providers.event_name(trigger.kind, headers)
    delivery_id = providers.delivery_id(trigger.kind, headers) or f"unnamed-{uuid.uuid4()}"
    answer = _replay(trigger, delivery_id)
    if answer is None:
        try:
            with transaction.atomic():
                # A delivery whose build was refused (a full queue, ...) may be redelivered: it runs again.
                TriggerDelivery.objects.filter(
                    trigger=trigger, delivery_id=delivery_id, outcome=DeliveryOutcome.FAILED
                ).delete()
                delivery = TriggerDelivery.objects.create(
                    trigger=trigger,
                    delivery_id=delivery_id,
                    event=event,
                    outcome=DeliveryOutcome.IGNORED,
                    status_code=0,
                )
                answer = _handle(trigger, delivery, body, headers.get("Content-Type") or "application/json")
                _record(delivery, answer)
        except IntegrityError:
            # The same delivery id, committed by a racing request between our look and our insert.
            answer = _replay(trigger, delivery_id, retryable_too=True)
            if answer is None:
                raise
    if answer.error is not None:
        raise answer.error
    return answer


def _replay(trigger: Trigger, delivery_id: str, *, retryable_too: bool = False) -> HookAnswer | None:
    """What an earlier delivery with this id made (None: there is none, or it failed and may run again)."""
    earlier = TriggerDelivery.objects.select_related("build").filter(trigger=trigger, delivery_id=delivery_id).first()
    if earlier is None or (earlier.outcome == DeliveryOutcome.FAILED and not retryable_too):
        return None
    return HookAnswer(
        status_code=200,
        outcome=earlier.outcome,
        message=f"Delivery {delivery_id} was already received: {earlier.message}",
        delivery_id=delivery_id,
        event=earlier.event,
        build=earlier.build,
        duplicate=True,
    )


def _record(delivery: TriggerDelivery, answer: HookAnswer) -> None:
    delivery.outcome = answer.outcome
    delivery.status_code = answer.status_code
    delivery.message = answer.message[:500]
    delivery.build = answer.build
    delivery.save(update_fields=["outcome", "status_code", "message", "build", "branch", "commit", "pusher"])
    stale = list(
        TriggerDelivery.objects.filter(trigger_id=delivery.trigger_id)
        .order_by("-delivered_at", "-id")
        .values_list("id", flat=True)[DELIVERIES_KEPT:]
    )
    if stale:
        TriggerDelivery.objects.filter(pk__in=stale).delete()


def _handle(trigger: Trigger, delivery: TriggerDelivery, body: bytes, content_type: str) -> HookAnswer:
    kind, event = trigger.kind, delivery.event

    def answer(status: int, outcome: str, message: str, **extra: Any) -> HookAnswer:
        return HookAnswer(status, outcome, message, delivery.delivery_id, event, **extra)

    def refuse(error: ApiError, outcome: str = DeliveryOutcome.REJECTED) -> HookAnswer:
        return answer(error.status_code, outcome, error.message, error=error)

    if providers.is_ping(kind, event):
        return answer(200, DeliveryOutcome.PING, "pong")
    if not providers.is_push(kind, event):
        return answer(202, DeliveryOutcome.IGNORED, f"Event {event or '(none)'!r} is not a push; nothing to build")
    try:
        push = providers.parse_push(kind, providers.parse_body(body, content_type))
    except providers.PayloadError as exc:
        return refuse(InvalidRequest(str(exc), details={"reason": "payload"}))
    delivery.branch, delivery.commit, delivery.pusher = (push.branch or push.ref)[:255], push.commit or "", push.pusher
    project = trigger.project
    if not providers.same_repository(project.repository_url, push.repository_urls):
        return refuse(
            Unprocessable(
                "The payload's repository is not this project's repository",
                details={"reason": "repository_mismatch", "payload_repository": list(push.repository_urls)[:5]},
            )
        )
    if push.is_tag:
        return answer(202, DeliveryOutcome.IGNORED, f"Tag push ({push.ref}); only branch pushes build")
    if push.deleted:
        return answer(202, DeliveryOutcome.IGNORED, f"Branch deleted ({push.ref}); nothing to build")
    branch = push.branch
    if branch is None or validators.branch_name_error(branch):
        return answer(202, DeliveryOutcome.IGNORED, f"{push.ref} is not a branch this service can build")
    if not providers.branch_matches(branch, trigger.branch_patterns):
        return answer(
            202, DeliveryOutcome.IGNORED, f"Branch {branch!r} matches none of {', '.join(trigger.branch_patterns)}"
        )
    if trigger.tenant.is_suspended:
        return refuse(Forbidden("Tenant is suspended; it is read-only", details={"reason": "tenant_suspended"}))
    try:
        build = build_services.create_build(
            tenant=trigger.tenant,
            project=project,
            user=None,
            git_branch=branch,
            git_commit=push.commit,
            build_args=trigger.build_args,
            trigger_id=trigger.pk,
            trigger_delivery_id=delivery.delivery_id,
            triggered_by=push.pusher or None,
        )
        build = build_services.start_build(build=build, user=None)
    except ApiError as exc:  # the tenant's queue is full, the project went away, ...
        return refuse(exc, DeliveryOutcome.FAILED)
    message = f"Build #{build.build_number} of {branch} at {(push.commit or '')[:12]} started"
    if trigger.cancel_superseded:
        cancelled = build_services.cancel_unstarted_builds(
            builds=selectors.superseded_builds(trigger, build),
            reason=f"Superseded by build #{build.build_number} ({(push.commit or '')[:12]})",
            who=f"the {kind} trigger",
        )
        if cancelled:
            message += "; cancelled " + ", ".join(f"#{b.build_number}" for b in cancelled)
    logger.info("trigger %s delivery %s: %s", trigger.pk, delivery.delivery_id, message)
    return answer(201, DeliveryOutcome.BUILT, message, build=build)
