"""Push payloads shaped like each provider's documented example, and their signed headers."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid

ZEROS = "0" * 40


def github_push(*, repository_url: str, branch: str = "main", commit: str, ref: str | None = None, **extra) -> dict:
    """GitHub's documented `push` example (docs.github.com, webhook events: push), trimmed, on our repository."""
    ref = ref or f"refs/heads/{branch}"
    return {
        "ref": ref,
        "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        "after": commit,
        "created": False,
        "deleted": commit == ZEROS,
        "forced": False,
        "base_ref": None,
        "compare": "https://github.com/Codertocat/Hello-World/compare/6113728f27ae...000000000000",
        "commits": [],
        "head_commit": None if commit == ZEROS else {"id": commit, "message": "Update Dockerfile"},
        "repository": {
            "id": 186853002,
            "name": "Hello-World",
            "full_name": "Codertocat/Hello-World",
            "private": False,
            "html_url": repository_url,
            "url": repository_url,
            "clone_url": repository_url,
            "default_branch": "main",
        },
        "pusher": {"name": "Codertocat", "email": "21031067+Codertocat@users.noreply.github.com"},
        "sender": {"login": "Codertocat", "id": 21031067, "type": "User"},
        **extra,
    }


def gitea_push(*, repository_url: str, branch: str = "main", commit: str, ref: str | None = None) -> dict:
    """Gitea's (and Forgejo's) push payload."""
    return {
        "ref": ref or f"refs/heads/{branch}",
        "before": "28e1879d029cb852e4844d9c718537df08844e03",
        "after": commit,
        "compare_url": "",
        "commits": [{"id": commit, "message": "Update Dockerfile\n"}] if commit != ZEROS else [],
        "total_commits": 1,
        "repository": {
            "id": 140,
            "name": "webhooks",
            "full_name": "gitea/webhooks",
            "html_url": repository_url,
            "clone_url": repository_url,
            "ssh_url": "",
            "default_branch": "main",
        },
        "pusher": {"id": 1, "login": "gitea", "username": "gitea", "email": "gitea@fake.local"},
        "sender": {"id": 1, "login": "gitea", "username": "gitea"},
    }


def gitlab_push(*, repository_url: str, branch: str = "main", commit: str, ref: str | None = None) -> dict:
    """GitLab's documented "Push Hook" example (docs.gitlab.com, webhook events: push events), trimmed."""
    return {
        "object_kind": "tag_push" if (ref or "").startswith("refs/tags/") else "push",
        "event_name": "push",
        "before": "95790bf891e76fee5e1747ab589903a6a1f80f22",
        "after": commit,
        "ref": ref or f"refs/heads/{branch}",
        "checkout_sha": None if commit == ZEROS else commit,
        "user_id": 4,
        "user_name": "John Smith",
        "user_username": "jsmith",
        "project_id": 15,
        "project": {
            "id": 15,
            "name": "Diaspora",
            "web_url": repository_url,
            "git_ssh_url": "",
            "git_http_url": repository_url,
            "path_with_namespace": "mike/diaspora",
            "default_branch": "main",
        },
        "commits": [],
        "total_commits_count": 0,
        "repository": {"name": "Diaspora", "url": repository_url, "homepage": repository_url, "git_http_url": ""},
    }


def generic_push(*, repository_url: str, branch: str = "main", commit: str, ref: str | None = None) -> dict:
    return {"ref": ref or f"refs/heads/{branch}", "after": commit, "repository_url": repository_url, "pusher": "ci"}


PAYLOADS = {"github": github_push, "gitea": gitea_push, "gitlab": gitlab_push, "generic": generic_push}


def signed(kind: str, secret: str, payload: dict | bytes, *, event: str = "push", delivery: str | None = None):
    """(body bytes, headers) of a delivery as the provider sends it."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    delivery = delivery or str(uuid.uuid4())
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json"}
    if kind == "github":
        headers |= {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": f"sha256={digest}"}
    elif kind == "gitea":
        headers |= {"X-Gitea-Event": event, "X-Gitea-Delivery": delivery, "X-Gitea-Signature": digest}
    elif kind == "gitlab":
        gitlab_event = {"push": "Push Hook", "tag": "Tag Push Hook"}.get(event, event)
        headers |= {"X-Gitlab-Event": gitlab_event, "X-Gitlab-Event-UUID": delivery, "X-Gitlab-Token": secret}
    else:
        headers |= {
            "X-ImageFactory-Event": event,
            "X-ImageFactory-Delivery": delivery,
            "X-ImageFactory-Signature": f"sha256={digest}",
        }
    return body, headers


def django_headers(headers: dict) -> dict:
    """Headers as Django's test client takes them (HTTP_X_...)."""
    out = {}
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        out[key if key == "CONTENT_TYPE" else f"HTTP_{key}"] = value
    return out
