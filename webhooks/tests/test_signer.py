"""The signature scheme: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">, checked like a receiver would."""

from __future__ import annotations

import hashlib
import hmac

from webhooks.signer import SECRET_PREFIX, new_secret, signature, verify

SECRET = "whsec_test"
BODY = b'{"event":"build.succeeded"}'


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()

    assert signature(SECRET, BODY, 1700000000) == f"t=1700000000,v1={expected}"


def test_a_fresh_signature_verifies():
    assert verify(SECRET, BODY, signature(SECRET, BODY, 1700000000), now=1700000010)


def test_another_body_secret_or_timestamp_does_not():
    header = signature(SECRET, BODY, 1700000000)
    forged_time = header.replace("t=1700000000", "t=1700000100")

    assert not verify(SECRET, BODY + b" ", header, now=1700000000)
    assert not verify("whsec_other", BODY, header, now=1700000000)
    assert not verify(SECRET, BODY, forged_time, now=1700000100)


def test_a_replay_outside_the_tolerance_is_refused():
    header = signature(SECRET, BODY, 1700000000)

    assert not verify(SECRET, BODY, header, now=1700000000 + 301)
    assert verify(SECRET, BODY, header, now=1700000000 + 299)


def test_malformed_headers_are_refused():
    for header in ["", "v1=abc", "t=x,v1=abc", "t=1700000000"]:
        assert not verify(SECRET, BODY, header, now=1700000000)


def test_secrets_are_random_and_prefixed():
    first, second = new_secret(), new_secret()

    assert first != second and first.startswith(SECRET_PREFIX) and len(first) > 40
