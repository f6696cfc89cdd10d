"""manage.py bootstrap_demo [--json] — idempotent demo: admin, tenant, owner, buildable project."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import User
from builds.executors.sandbox import MOUNTPOINTS
from builds.models import Project
from tenants.models import Membership, Role, Tenant
from tenants.services import create_tenant

ADMIN_EMAIL = "admin@imagefactory.local"
OWNER_EMAIL = "user@imagefactory.local"
TENANT_SLUG = "demo"
EXAMPLE = Path(settings.BASE_DIR) / "examples" / "hello"
BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")


def _git(repo: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "ImageFactory",
        "GIT_AUTHOR_EMAIL": "demo@imagefactory.local",
        "GIT_COMMITTER_NAME": "ImageFactory",
        "GIT_COMMITTER_EMAIL": "demo@imagefactory.local",
    }
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def demo_repository() -> Path:
    """A git repository made from examples/hello plus a static busybox (built once)."""
    repo = Path(settings.VAR_DIR) / "demo-repo"
    if (repo / ".git").exists():
        return repo
    busybox = next((Path(p) for p in BUSYBOX_CANDIDATES if Path(p).exists()), None)
    if busybox is None:
        raise CommandError("busybox is not installed; install busybox-static (apt-get install busybox-static).")
    repo.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLE / "Dockerfile", repo / "Dockerfile")
    for mountpoint in MOUNTPOINTS:  # a sandboxed RUN step mounts over these
        (repo / "rootfs" / mountpoint).mkdir(parents=True, exist_ok=True)
        (repo / "rootfs" / mountpoint / ".keep").touch()
    (repo / "rootfs" / "bin").mkdir(exist_ok=True)
    shutil.copy(busybox, repo / "rootfs" / "bin" / "busybox")
    _git(repo, "init", "--quiet", "--initial-branch=main")
    _git(repo, "add", "Dockerfile", "rootfs")
    _git(repo, "commit", "--quiet", "-m", "hello: a FROM scratch busybox image")
    return repo


class Command(BaseCommand):
    help = "Create (once) a system admin, a demo tenant with an owner, and a buildable demo project."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print one JSON object for scripts.")

    def _user(self, email: str, *, superuser: bool, created_passwords: dict) -> User:
        user = User.objects.filter(email__iexact=email).first()
        if user is not None:
            return user
        password = os.environ.get("IMAGEFACTORY_DEMO_PASSWORD") or secrets.token_urlsafe(12)
        create = User.objects.create_superuser if superuser else User.objects.create_user
        created_passwords[email] = password
        return create(email=email, password=password, name="Demo admin" if superuser else "Demo user")

    def handle(self, *args, as_json: bool = False, **options):
        passwords: dict[str, str] = {}
        repo = demo_repository()
        with transaction.atomic():
            self._user(ADMIN_EMAIL, superuser=True, created_passwords=passwords)
            owner = self._user(OWNER_EMAIL, superuser=False, created_passwords=passwords)
            tenant = Tenant.objects.filter(slug=TENANT_SLUG).first() or create_tenant(name="demo")
            Membership.objects.get_or_create(
                user=owner, tenant=tenant, defaults={"role": Role.objects.get(name="owner")}
            )
            project, _ = Project.objects.get_or_create(
                tenant=tenant,
                name="hello",
                defaults={"repository_url": f"file://{repo}", "default_branch": "main"},
            )
        password = passwords.get(OWNER_EMAIL) or os.environ.get("IMAGEFACTORY_DEMO_PASSWORD")
        summary = {
            "api_url": settings.IMAGEFACTORY_API_URL,
            "tenant_id": str(tenant.id),
            "project_id": str(project.id),
            "email": OWNER_EMAIL,
            "password": password,
        }
        if as_json:
            self.stdout.write(json.dumps(summary))
            return
        self.stdout.write(f"API:        {summary['api_url']}")
        self.stdout.write(f"Tenant ID:  {summary['tenant_id']}  (send as X-Tenant-ID)")
        self.stdout.write(f"Project ID: {summary['project_id']}  (repository {project.repository_url})")
        for email, pw in passwords.items():
            self.stdout.write(f"Created {email} with password {pw}  (shown once; keep it)")
        if not passwords:
            self.stdout.write(f"Log in as {OWNER_EMAIL} with the password printed when it was first created.")
