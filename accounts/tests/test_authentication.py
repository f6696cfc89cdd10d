"""Authentication when the database cannot answer: the request is a 503 to retry, never a 401.

A 401 tells a CI client its token is bad, and it throws the token away; the token was fine, the
database was not. Django's own hook between the ORM and the driver raises what the driver raises
when PostgreSQL ends or refuses the connection.
"""

from __future__ import annotations

import pytest
from django.db import InterfaceError, OperationalError, connection
from rest_framework_simplejwt.tokens import AccessToken

from accounts.authentication import user_of
from testing import access_token_for, assert_envelope

pytestmark = pytest.mark.django_db


def failing_user_lookups(error: Exception):
    def wrapper(execute, sql, params, many, context):
        if '"accounts_user"' in sql:
            raise error
        return execute(sql, params, many, context)

    return wrapper


OUTAGES = [
    OperationalError("terminating connection due to administrator command"),
    OperationalError('database "test" is not currently accepting connections'),
    InterfaceError("the connection is closed"),
]


@pytest.mark.parametrize("error", OUTAGES, ids=["terminated", "refused", "closed"])
def test_user_of_lets_a_database_outage_through(owner, error):
    token = AccessToken(access_token_for(owner))
    with connection.execute_wrapper(failing_user_lookups(error)), pytest.raises(type(error)):
        user_of(token)


@pytest.mark.parametrize("error", OUTAGES, ids=["terminated", "refused", "closed"])
def test_a_valid_token_in_a_database_outage_gets_503_not_401(api, owner, tenant, error):
    client = api(owner, tenant)
    with connection.execute_wrapper(failing_user_lookups(error)):
        response = client.get("/api/v1/builds")
    body = assert_envelope(response, 503, "SERVICE_UNAVAILABLE")
    assert body["details"] == {"reason": "database_unavailable"}
    assert int(response["Retry-After"]) >= 1
    assert "WWW-Authenticate" not in response
    assert client.get("/api/v1/builds").status_code == 200  # the database back: the same token works
