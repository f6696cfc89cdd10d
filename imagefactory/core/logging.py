"""Logging filter that stamps trace_id, tenant_id and build_id on every record."""

import logging

from imagefactory.core.context import build_id_var, tenant_id_var, trace_id_var


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        context_trace_id = trace_id_var.get()
        if context_trace_id == "-":
            # django.request logs a failed request after the middleware has reset the context
            # variable, but it attaches the request, which carries the trace id.
            context_trace_id = getattr(getattr(record, "request", None), "trace_id", None) or "-"
        record.trace_id = getattr(record, "trace_id", None) or context_trace_id
        record.tenant_id = getattr(record, "tenant_id", None) or tenant_id_var.get()
        record.build_id = getattr(record, "build_id", None) or build_id_var.get()
        return True
