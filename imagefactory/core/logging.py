"""Logging: a filter that stamps trace_id, tenant_id, build_id and user_id on every record, and the
JSON formatter LOG_FORMAT=json selects (one object per line)."""

import json
import logging
from datetime import UTC, datetime

from imagefactory.core.context import build_id_var, tenant_id_var, trace_id_var, user_id_var
from imagefactory.core.timestamps import iso_z

CONTEXT_FIELDS = ("trace_id", "tenant_id", "build_id", "user_id")
# Attributes every LogRecord has: anything else on a record came from `extra=` and is kept in the JSON.
_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", *CONTEXT_FIELDS}


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
        record.user_id = getattr(record, "user_id", None) or user_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the context ids, exception, extras.

    Ids missing from the context are null (the text format prints "-")."""

    def format(self, record: logging.LogRecord) -> str:
        document = {
            "time": iso_z(datetime.fromtimestamp(record.created, UTC)),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            document[name] = None if value in (None, "-") else str(value)
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            document["exception"] = record.exc_text
        if record.stack_info:
            document["stack"] = self.formatStack(record.stack_info)
        for name, value in record.__dict__.items():
            if name not in _RECORD_ATTRIBUTES and name not in document and not name.startswith("_"):
                document[name] = value
        return json.dumps(document, default=str)
