"""The stored lines of a build's log, numbered by `seq` from 1."""

from __future__ import annotations

from django.db import models

from builds.models.builds import Build


class LogLevel(models.TextChoices):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"


class BuildLogLine(models.Model):
    build = models.ForeignKey(Build, on_delete=models.CASCADE, related_name="log_lines")
    seq = models.PositiveIntegerField()
    timestamp = models.DateTimeField()
    level = models.CharField(max_length=5, choices=LogLevel, default=LogLevel.INFO)
    message = models.TextField()
    metadata = models.JSONField(default=dict)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["build", "seq"], name="log_line_seq_unique")]
        ordering = ["seq"]
