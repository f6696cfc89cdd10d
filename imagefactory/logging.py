"""Logging filter that stamps trace_id, tenant_id and build_id on every record."""

import logging

from imagefactory.context import build_id_var, tenant_id_var, trace_id_var


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.trace_id = getattr(record, "trace_id", None) or trace_id_var.get()
        record.tenant_id = getattr(record, "tenant_id", None) or tenant_id_var.get()
        record.build_id = getattr(record, "build_id", None) or build_id_var.get()
        return True
