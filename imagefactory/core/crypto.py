"""Symmetric encryption for secrets at rest (registry and git credentials), with key rotation."""

from __future__ import annotations

import base64
import hashlib
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
