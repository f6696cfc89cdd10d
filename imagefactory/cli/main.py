"""`imagefactory`: the command line for CI jobs (see README, "CLI").

Exit codes: 0 success, 1 the build failed, 2 the build was cancelled, 3 a usage or API error,
4 the --timeout ran out. Needs only requests and websockets: nothing of the server is imported.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from imagefactory.cli import config as cli_config
from imagefactory.cli.client import ApiError, Backoff, Client, DeadlineExceeded
from imagefactory.cli.config import ConfigError
from imagefactory.cli.output import Output, progress_text
from imagefactory.cli.stream import LogFollower

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CANCELLED = 2
EXIT_ERROR = 3
EXIT_TIMEOUT = 4
EXIT_INTERRUPTED = 130

EXIT_BY_STATUS = {"success": EXIT_OK, "failed": EXIT_FAILED, "cancelled": EXIT_CANCELLED}
TERMINAL = frozenset(EXIT_BY_STATUS)
STATUSES = ("queued", "in_progress", "success", "failed", "cancelled")
TRIGGER_KINDS = ("github", "gitlab", "gitea", "generic")
WEBHOOK_EVENTS = ("build.created", "build.started", "build.succeeded", "build.failed", "build.cancelled", "build.*")
POLL_SECONDS = 2.0  # between /status reads when waiting without the log, or redrawing progress


class Parser(argparse.ArgumentParser):
    """argparse exits 2 on a usage error; here 2 means "cancelled", so usage errors exit 3."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


class UsageError(Exception):
    pass


@dataclass
class Context:
    args: argparse.Namespace
    client: Client
    out: Output
    build_id: str | None = None  # the build being waited for (for --cancel-on-timeout)
    last_poll: float = field(default=0.0)


def option(args: argparse.Namespace, name: str, default: Any = None) -> Any:
    return getattr(args, name, default)


# --- commands -----------------------------------------------------------------------------------
def cmd_login(ctx: Context) -> int:
    body = ctx.client.login()
    if ctx.out.json_mode:
        ctx.out.document(body)
    else:
        ctx.out.text(body["access_token"])
    return EXIT_OK


def cmd_projects_list(ctx: Context) -> int:
    page = ctx.client.call("GET", "/projects", params={"limit": ctx.args.limit})
    if ctx.out.json_mode:
        ctx.out.document(page)
        return EXIT_OK
    rows = [(p["id"], p["name"], p.get("repository_url"), p.get("image_repository")) for p in page["projects"]]
    ctx.out.table(rows, ["ID", "NAME", "REPOSITORY", "IMAGE"])
    return EXIT_OK


def cmd_builds_list(ctx: Context) -> int:
    params: dict[str, Any] = {"limit": ctx.args.limit}
    if ctx.args.status:
        params["status"] = ctx.args.status
    if ctx.args.project:
        params["project_id"] = resolve_project(ctx, ctx.args.project)
    page = ctx.client.call("GET", "/builds", params=params)
    if ctx.out.json_mode:
        ctx.out.document(page)
        return EXIT_OK
    rows = [
        (b["id"], b["build_number"], b["status"], b["git_branch"], (b.get("git_commit") or "")[:12], b["created_at"])
        for b in page["builds"]
    ]
    ctx.out.table(rows, ["ID", "NUMBER", "STATUS", "BRANCH", "COMMIT", "CREATED"])
    return EXIT_OK


def cmd_builds_show(ctx: Context) -> int:
    build = ctx.client.call("GET", f"/builds/{ctx.args.build_id}")
    if ctx.out.json_mode:
        ctx.out.document(build)
    else:
        for key, value in build.items():
            ctx.out.text(f"{key}: {'' if value is None else value}")
    return EXIT_OK


def cmd_builds_status(ctx: Context) -> int:
    """The status; the exit code says how an ended build ended (0, 1, 2; 0 while it runs)."""
    status = ctx.client.call("GET", f"/builds/{ctx.args.build_id}/status")
    if ctx.out.json_mode:
        ctx.out.document(status)
    else:
        line = status["status"]
        progress = status.get("progress") or {}
        if progress.get("total_steps"):
            line += f"  step {progress['current_step']}/{progress['total_steps']} ({progress['percentage']}%)"
        if status.get("error"):
            line += f"  {status['error']}"
        ctx.out.text(line)
    return EXIT_BY_STATUS.get(status["status"], EXIT_OK)


def cmd_builds_start(ctx: Context) -> int:
    build = ctx.client.call("POST", f"/builds/{ctx.args.build_id}/start", idempotent=True)
    return settle(ctx, build)


def cmd_builds_cancel(ctx: Context) -> int:
    body = {"reason": ctx.args.reason} if ctx.args.reason else None
    build = ctx.client.call("POST", f"/builds/{ctx.args.build_id}/cancel", json=body, idempotent=True)
    report(ctx, build)
    return EXIT_OK


def cmd_builds_retry(ctx: Context) -> int:
    """The API's retry makes a new queued build; the CLI starts it too, unless --no-start."""
    build = ctx.client.call("POST", f"/builds/{ctx.args.build_id}/retry", idempotent=True)
    ctx.build_id = build["id"]
    ctx.out.note(f"build #{build['build_number']} {build['id']} created, retrying {ctx.args.build_id}")
    if ctx.args.no_start:
        report(ctx, build)
        return EXIT_OK
    started = ctx.client.call("POST", f"/builds/{build['id']}/start", idempotent=True)
    return settle(ctx, started)


def cmd_builds_logs(ctx: Context) -> int:
    build_id = ctx.args.build_id
    if ctx.args.follow:
        ctx.build_id = build_id
        return follow_to_end(ctx, ctx.client.call("GET", f"/builds/{build_id}"))
    offset = 0
    while True:
        page = ctx.client.call("GET", f"/builds/{build_id}/logs", params={"offset": offset, "limit": 1000})
        for line in page["logs"]:
            ctx.out.log_line(line)
        offset += len(page["logs"])
        if not page["logs"] or offset >= page["total_lines"]:
            return EXIT_OK


def cmd_build(ctx: Context) -> int:
    body: dict[str, Any] = {"project_id": resolve_project(ctx, ctx.args.project), "git_branch": ctx.args.branch}
    if ctx.args.commit:
        body["git_commit"] = ctx.args.commit
    if ctx.args.build_arg:
        body["build_args"] = parse_build_args(ctx.args.build_arg)
    created = ctx.client.call("POST", "/builds", json=body, idempotent=True)
    ctx.build_id = created["id"]
    ctx.out.note(f"build #{created['build_number']} {created['id']} created")
    started = ctx.client.call("POST", f"/builds/{created['id']}/start", idempotent=True)
    return settle(ctx, started)


# --- helpers ------------------------------------------------------------------------------------
def cmd_triggers_list(ctx: Context) -> int:
    project_id = resolve_project(ctx, ctx.args.project)
    page = ctx.client.call("GET", f"/projects/{project_id}/triggers", params={"limit": 100})
    if ctx.out.json_mode:
        ctx.out.document(page)
        return EXIT_OK
    rows = [
        (
            t["id"],
            t["kind"],
            ",".join(t["branch_patterns"]),
            "yes" if t["cancel_superseded"] else "no",
            t["delivery_url"],
        )
        for t in page["triggers"]
    ]
    ctx.out.table(rows, ["ID", "KIND", "BRANCHES", "CANCEL-SUPERSEDED", "DELIVERY-URL"])
    return EXIT_OK


def cmd_triggers_create(ctx: Context) -> int:
    project_id = resolve_project(ctx, ctx.args.project)
    body: dict[str, Any] = {"kind": ctx.args.kind, "cancel_superseded": not ctx.args.no_cancel_superseded}
    if ctx.args.branch:
        body["branch_patterns"] = ctx.args.branch
    if ctx.args.build_arg:
        body["build_args"] = parse_build_args(ctx.args.build_arg)
    # Not retried on a lost answer with the same key: the answer holds the secret, which the server
    # keeps nowhere in plain text (a replay store would have to).
    trigger = ctx.client.call("POST", f"/projects/{project_id}/triggers", json=body)
    if ctx.out.json_mode:
        ctx.out.document(trigger)
        return EXIT_OK
    ctx.out.table(
        [("id", trigger["id"]), ("delivery_url", trigger["delivery_url"]), ("secret", trigger["secret"])],
        ["FIELD", "VALUE"],
    )
    ctx.out.note("the secret is shown this once: set it as the webhook's secret now")
    return EXIT_OK


def cmd_webhooks_list(ctx: Context) -> int:
    page = ctx.client.call("GET", "/webhooks", params={"limit": ctx.args.limit})
    if ctx.out.json_mode:
        ctx.out.document(page)
        return EXIT_OK
    rows = [
        (w["id"], w["url"], ",".join(w["events"]), w.get("project_id") or "", webhook_state(w))
        for w in page["webhooks"]
    ]
    ctx.out.table(rows, ["ID", "URL", "EVENTS", "PROJECT", "STATE"])
    return EXIT_OK


def webhook_state(webhook: dict[str, Any]) -> str:
    if webhook["is_active"]:
        return "failing" if webhook.get("failing_since") else "active"
    return f"disabled: {webhook.get('disabled_reason') or ''}".strip()


def cmd_webhooks_create(ctx: Context) -> int:
    body: dict[str, Any] = {"url": ctx.args.target_url, "events": ctx.args.event or ["build.*"]}
    if ctx.args.project:
        body["project_id"] = resolve_project(ctx, ctx.args.project)
    webhook = ctx.client.call("POST", "/webhooks", json=body)
    if ctx.out.json_mode:
        ctx.out.document(webhook)
    else:
        ctx.out.text(f"id: {webhook['id']}")
        ctx.out.text(f"secret: {webhook['secret']}")
        ctx.out.note("keep the secret now: it is shown only once (it verifies X-ImageFactory-Signature)")
    return EXIT_OK


def cmd_webhooks_deliveries(ctx: Context) -> int:
    page = ctx.client.call("GET", f"/webhooks/{ctx.args.webhook_id}/deliveries", params={"limit": ctx.args.limit})
    if ctx.out.json_mode:
        ctx.out.document(page)
        return EXIT_OK
    rows = [
        (
            d["id"],
            d["event"],
            d["build_id"],
            d["status"],
            d["attempt_count"],
            d.get("last_status_code") or "",
            d.get("last_error") or "",
            d["created_at"],
        )
        for d in page["deliveries"]
    ]
    ctx.out.table(rows, ["ID", "EVENT", "BUILD", "STATUS", "ATTEMPTS", "HTTP", "ERROR", "CREATED"])
    return EXIT_OK


def parse_build_args(pairs: Sequence[str]) -> dict[str, str]:
    args: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--build-arg wants KEY=VALUE, got {pair!r}")
        args[key] = value
    return args


def resolve_project(ctx: Context, wanted: str) -> str:
    """A project id as given, or the id of the project with that name."""
    try:
        return str(uuid.UUID(wanted))
    except ValueError:
        pass
    page = ctx.client.call("GET", "/projects", params={"limit": 100})
    matches = [p["id"] for p in page["projects"] if p["name"] == wanted]
    if len(matches) != 1:
        raise UsageError(f"no project with id or name {wanted!r}")
    return str(matches[0])


def report(ctx: Context, build: dict[str, Any]) -> None:
    if ctx.out.json_mode:
        ctx.out.document(build)
    else:
        ctx.out.text(build["id"])
        ctx.out.note(f"build #{build['build_number']} {build['id']}: {build['status']}")


def settle(ctx: Context, build: dict[str, Any]) -> int:
    """After start/retry/build: follow the log, wait, or just report, as the flags ask."""
    ctx.build_id = build["id"]
    if ctx.args.follow:
        ctx.out.note(f"build #{build['build_number']} {build['id']} {build['status']}; following its log")
        return follow_to_end(ctx, build)
    if ctx.args.wait:
        return wait_to_end(ctx, build)
    report(ctx, build)
    return EXIT_OK


def follow_to_end(ctx: Context, build: dict[str, Any]) -> int:
    follower = LogFollower(ctx.client, build["id"], on_line=ctx.out.log_line, on_idle=lambda: redraw(ctx, build))
    follower.follow()
    return finish(ctx, build["id"])


def wait_to_end(ctx: Context, build: dict[str, Any]) -> int:
    while True:
        status = ctx.client.call("GET", f"/builds/{build['id']}/status")
        ctx.out.progress(progress_text(build, status))
        if status["status"] in TERMINAL:
            return finish(ctx, build["id"])
        ctx.client.pause(POLL_SECONDS)


def redraw(ctx: Context, build: dict[str, Any]) -> None:
    """The progress line while following (terminal only; a CI log gets no extra requests)."""
    if not ctx.out.interactive or time.monotonic() - ctx.last_poll < POLL_SECONDS:
        return
    ctx.last_poll = time.monotonic()
    try:
        status = ctx.client.call("GET", f"/builds/{build['id']}/status")
    except ApiError:
        return  # only decoration: the log goes on
    ctx.out.progress(progress_text(build, status))


def finish(ctx: Context, build_id: str) -> int:
    build = ctx.client.call("GET", f"/builds/{build_id}")
    ctx.out.clear_progress()
    if ctx.out.json_mode:
        ctx.out.document(build)
    else:
        if not ctx.args.follow:
            ctx.out.text(build["id"])
        summary = f"build #{build['build_number']} {build['id']}: {build['status']}"
        if build.get("image_reference"):
            summary += f", image {build['image_reference']}"
            if build.get("image_digest"):
                summary += f"@{build['image_digest']}"
        if build.get("error_message"):
            summary += f" ({build['error_message']})"
        ctx.out.note(summary)
    return EXIT_BY_STATUS.get(build["status"], EXIT_ERROR)


# --- the parser ---------------------------------------------------------------------------------
def build_parser() -> Parser:
    # The same options are accepted before and after the command (SUPPRESS: only given ones land).
    common = Parser(add_help=False)
    connection = common.add_argument_group("connection (each also from its environment variable)")
    connection.add_argument("--url", default=argparse.SUPPRESS, help="server root URL (IMAGEFACTORY_URL)")
    connection.add_argument("--token", default=argparse.SUPPRESS, help="access token (IMAGEFACTORY_TOKEN)")
    connection.add_argument("--email", default=argparse.SUPPRESS, help="log in as (IMAGEFACTORY_EMAIL)")
    connection.add_argument("--password", default=argparse.SUPPRESS, help="password (IMAGEFACTORY_PASSWORD)")
    connection.add_argument("--tenant", default=argparse.SUPPRESS, help="tenant id or name (IMAGEFACTORY_TENANT)")
    behaviour = common.add_argument_group("behaviour")
    behaviour.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="JSON output for scripts")
    behaviour.add_argument(
        "--timeout", type=positive_float, default=argparse.SUPPRESS, help="give up after S seconds (exit 4)"
    )
    behaviour.add_argument(
        "--retries", type=int, default=argparse.SUPPRESS, help="retries of a failed request or stream (default 8)"
    )

    waiting = Parser(add_help=False)
    waiting.add_argument("--follow", action="store_true", help="stream the build's log to stdout until it ends")
    waiting.add_argument("--wait", action="store_true", help="wait until the build ends (without its log)")
    waiting.add_argument("--cancel-on-timeout", action="store_true", help="cancel the build when --timeout runs out")

    parser = Parser(
        prog="imagefactory",
        parents=[common],
        description="ImageFactory builds from CI jobs. Exit codes: 0 success, 1 build failed, "
        "2 cancelled, 3 usage or API error, 4 timeout.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    login = commands.add_parser("login", parents=[common], help="log in; prints an access token")
    login.set_defaults(handler=cmd_login, needs_tenant=False)

    projects = commands.add_parser("projects", help="projects of the tenant")
    project_commands = projects.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=Parser)
    projects_list = project_commands.add_parser("list", parents=[common], help="list projects")
    projects_list.add_argument("--limit", type=int, default=100)
    projects_list.set_defaults(handler=cmd_projects_list)

    builds = commands.add_parser("builds", help="builds of the tenant")
    build_commands = builds.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=Parser)
    builds_list = build_commands.add_parser("list", parents=[common], help="list builds, newest first")
    builds_list.add_argument("--status", choices=STATUSES)
    builds_list.add_argument("--project", help="project id or name")
    builds_list.add_argument("--limit", type=int, default=20)
    builds_list.set_defaults(handler=cmd_builds_list)
    for name, handler, help_text, parents in (
        ("show", cmd_builds_show, "a build's details", [common]),
        ("status", cmd_builds_status, "status and progress; exit code 0/1/2 once ended", [common]),
        ("start", cmd_builds_start, "start a queued build", [common, waiting]),
        ("cancel", cmd_builds_cancel, "cancel a build", [common]),
        ("retry", cmd_builds_retry, "retry an ended build as a new build, and start it", [common, waiting]),
        ("logs", cmd_builds_logs, "print a build's log", [common]),
    ):
        sub = build_commands.add_parser(name, parents=parents, help=help_text)
        sub.add_argument("build_id", metavar="BUILD_ID")
        sub.set_defaults(handler=handler)
        if name == "cancel":
            sub.add_argument("--reason")
        if name == "retry":
            sub.add_argument("--no-start", action="store_true", help="only create the new build (queued)")
        if name == "logs":
            sub.add_argument("--follow", action="store_true", help="stream live until the build ends")

    triggers = commands.add_parser("triggers", help="build triggers (push hooks) of a project")
    trigger_commands = triggers.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=Parser)
    triggers_list = trigger_commands.add_parser("list", parents=[common], help="list a project's triggers")
    triggers_list.add_argument("--project", required=True, help="project id or name")
    triggers_list.set_defaults(handler=cmd_triggers_list)
    triggers_create = trigger_commands.add_parser(
        "create", parents=[common], help="add a trigger; prints its delivery URL and secret (shown once)"
    )
    triggers_create.add_argument("--project", required=True, help="project id or name")
    triggers_create.add_argument("--kind", required=True, choices=TRIGGER_KINDS)
    triggers_create.add_argument(
        "--branch", action="append", default=[], metavar="PATTERN", help="branch glob, repeatable (default: main)"
    )
    triggers_create.add_argument("--build-arg", action="append", default=[], metavar="KEY=VALUE")
    triggers_create.add_argument(
        "--no-cancel-superseded", action="store_true", help="keep building older pushes of a branch"
    )
    triggers_create.set_defaults(handler=cmd_triggers_create)
    webhooks = commands.add_parser("webhooks", help="the tenant's webhook subscriptions (build events)")
    webhook_commands = webhooks.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=Parser)
    webhooks_list = webhook_commands.add_parser("list", parents=[common], help="list webhook subscriptions")
    webhooks_list.add_argument("--limit", type=int, default=100)
    webhooks_list.set_defaults(handler=cmd_webhooks_list)
    webhooks_create = webhook_commands.add_parser(
        "create", parents=[common], help="subscribe a URL to build events; prints its id and secret (once)"
    )
    webhooks_create.add_argument("target_url", metavar="TARGET_URL", help="http(s) URL the events are POSTed to")
    webhooks_create.add_argument(
        "--event", action="append", choices=WEBHOOK_EVENTS, help="an event to send (repeatable; default build.*)"
    )
    webhooks_create.add_argument("--project", help="only builds of this project (id or name)")
    webhooks_create.set_defaults(handler=cmd_webhooks_create)
    webhooks_deliveries = webhook_commands.add_parser(
        "deliveries", parents=[common], help="a webhook's delivery log, newest first"
    )
    webhooks_deliveries.add_argument("webhook_id", metavar="WEBHOOK_ID")
    webhooks_deliveries.add_argument("--limit", type=int, default=20)
    webhooks_deliveries.set_defaults(handler=cmd_webhooks_deliveries)

    build = commands.add_parser("build", parents=[common, waiting], help="create and start a build")
    build.add_argument("--project", required=True, help="project id or name")
    build.add_argument("--branch", required=True)
    build.add_argument("--commit")
    build.add_argument("--build-arg", action="append", default=[], metavar="KEY=VALUE")
    build.set_defaults(handler=cmd_build)
    return parser


def positive_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {raw!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def main(argv: Sequence[str] | None = None, environ: dict[str, str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Output(json_mode=bool(option(args, "json", False)))
    handler: Callable[[Context], int] = args.handler
    timeout = option(args, "timeout")
    try:
        settings = cli_config.load(
            {name: option(args, name) for name in cli_config.ENV_VARS}, os.environ if environ is None else environ
        )
        retries = option(args, "retries")
        client = Client(
            settings,
            backoff=Backoff(retries=retries) if retries is not None else Backoff(),
            notify=out.note,
            deadline=time.monotonic() + timeout if timeout else None,
        )
        ctx = Context(args=args, client=client, out=out)
    except ConfigError as exc:
        out.note(f"error: {exc}")
        return EXIT_ERROR
    try:
        return handler(ctx)
    except DeadlineExceeded:
        out.clear_progress()
        return timed_out(ctx, timeout)
    except (ConfigError, UsageError) as exc:
        out.clear_progress()
        out.note(f"error: {exc}")
        return EXIT_ERROR
    except ApiError as exc:
        out.clear_progress()
        out.error(exc)
        return EXIT_ERROR
    except KeyboardInterrupt:
        out.clear_progress()
        return EXIT_INTERRUPTED


def timed_out(ctx: Context, timeout: float | None) -> int:
    where = f" waiting for build {ctx.build_id}" if ctx.build_id else ""
    ctx.out.note(f"timed out after {timeout:g}s{where}")
    if ctx.build_id and option(ctx.args, "cancel_on_timeout", False):
        ctx.client.deadline = time.monotonic() + 60  # the cancel gets its own short allowance
        try:
            build = ctx.client.call(
                "POST", f"/builds/{ctx.build_id}/cancel", json={"reason": "CLI --timeout"}, idempotent=True
            )
            ctx.out.note(f"cancelled build {ctx.build_id}: {build['status']}")
        except (ApiError, DeadlineExceeded) as exc:
            ctx.out.note(f"could not cancel build {ctx.build_id}: {exc}")
    elif ctx.build_id:
        ctx.out.note(f"build {ctx.build_id} goes on; `imagefactory builds cancel {ctx.build_id}` stops it")
    return EXIT_TIMEOUT
