"""Credentials at rest: encrypted, and still readable after a key rotation."""

from __future__ import annotations

import pytest

from imagefactory.core.crypto import decrypt, encrypt


def test_round_trip_and_ciphertext_is_not_the_plaintext(settings):
    settings.FIELD_ENCRYPTION_KEYS = ["key-one"]
    ciphertext = encrypt("s3cret")
    assert "s3cret" not in ciphertext and decrypt(ciphertext) == "s3cret"


def test_rotation_keeps_old_values_readable_and_writes_with_the_new_key(settings):
    settings.FIELD_ENCRYPTION_KEYS = ["old-key"]
    old = encrypt("s3cret")
    settings.FIELD_ENCRYPTION_KEYS = ["new-key", "old-key"]
    new = encrypt("s3cret")

    assert decrypt(old) == decrypt(new) == "s3cret"
    settings.FIELD_ENCRYPTION_KEYS = ["new-key"]
    assert decrypt(new) == "s3cret"


def test_an_unknown_key_is_logged_not_a_crash(settings, caplog):
    settings.FIELD_ENCRYPTION_KEYS = ["lost-key"]
    ciphertext = encrypt("s3cret")
    settings.FIELD_ENCRYPTION_KEYS = ["other-key"]

    assert decrypt(ciphertext) == ""
    assert "FIELD_ENCRYPTION_KEYS" in caplog.text


@pytest.mark.django_db
def test_a_project_credential_survives_a_secret_key_rotation(settings, project):
    settings.FIELD_ENCRYPTION_KEYS = []  # the default: SECRET_KEY
    project.registry_password = "pw-123"
    project.save()
    old_secret = settings.SECRET_KEY
    settings.SECRET_KEY = "a-brand-new-secret-key-0123456789abcdef"
    settings.FIELD_ENCRYPTION_KEYS = [settings.SECRET_KEY, old_secret]

    assert type(project).objects.get(pk=project.pk).registry_password == "pw-123"
