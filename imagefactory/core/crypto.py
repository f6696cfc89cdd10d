"""Symmetric encryption for secrets at rest (registry and git credentials), with key rotation."""

from __future__ import annotations

import base64
import hashlib
import json
import logging

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models

logger = logging.getLogger(__name__)


def _fernet() -> MultiFernet:
    """The first key encrypts; every key decrypts, so keys can be rotated without losing data."""
    keys = settings.FIELD_ENCRYPTION_KEYS or [settings.SECRET_KEY]
    return MultiFernet([Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest())) for key in keys])


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        logger.error(
            "a stored credential cannot be decrypted with FIELD_ENCRYPTION_KEYS; add the key it was "
            "written with (e.g. the previous SECRET_KEY) to the list, or set the credential again"
        )
        return ""


class EncryptedTextField(models.TextField):
    """Stores Fernet ciphertext; Python code sees plaintext. Empty stays empty."""

    def from_db_value(self, value, expression, connection):
        return decrypt(value) if value else value

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return encrypt(value) if value else value


class EncryptedSecretsField(models.TextField):
    """A name -> value mapping stored as one Fernet ciphertext of its JSON; Python code sees the dict."""

    # What django-stubs' mypy plugin reports for the attribute (it would say str, from TextField).
    _pyi_private_set_type: dict[str, str]
    _pyi_private_get_type: dict[str, str]

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("default", dict)
        kwargs.setdefault("blank", True)
        super().__init__(*args, **kwargs)

    def from_db_value(self, value, expression, connection):
        return self.to_python(decrypt(value)) if value else {}

    def to_python(self, value):
        if isinstance(value, dict):
            return value
        try:
            loaded = json.loads(value) if value else {}
        except (TypeError, ValueError):
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def get_prep_value(self, value):
        return encrypt(json.dumps(value, sort_keys=True)) if value else ""
