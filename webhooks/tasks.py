"""Celery task: deliver one webhook (thin: takes an id). In the embedded default it runs in the server's pool."""

from __future__ import annotations

from celery import shared_task
from celery.signals import worker_ready

from webhooks import delivery, sweeper
from webhooks.jobs import DELIVER


@worker_ready.connect
def start_sweeper(**kwargs: object) -> None:
    sweeper.start()


@shared_task(name=DELIVER, acks_late=False, ignore_result=True)
def deliver(delivery_id: str) -> None:
    delivery.attempt(delivery_id)
