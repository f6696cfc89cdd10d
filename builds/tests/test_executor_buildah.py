"""The buildah executor: pure helpers, then real prepare + run against a git repository and a registry."""

from __future__ import annotations

import base64
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from builds.executors.base import BuildInterrupted, BuildPlatformError, BuildResult, BuildSpec, BuildUserError
from builds.executors.buildah import STEP_LINE, BuildahExecutor, bud_turn, is_insecure_registry
from builds.executors.commands import classify
from builds.validators import tag_safe
from testing import GitRepo, free_port, run_step, unique_token


@pytest.mark.parametrize(
    ("line", "level"),
    [
        ('error building at STEP "RUN make": exit status 2', "ERROR"),
        ('Error: error building at STEP "RUN make": exit status 2', "ERROR"),
        ("fatal: repository 'file:///nowhere' does not exist", "ERROR"),
        ("ERRO[0003] exit status 1", "ERROR"),
        ('time="2024-05-01T10:00:00Z" level=error msg="pushing failed"', "ERROR"),
        ('time="2024-05-01T10:00:00Z" level=fatal msg="no storage"', "ERROR"),
        ("warning: redirecting to https://example.com/repo.git/", "WARN"),
        ('WARN[0000] missing "GREETING" build argument', "WARN"),
        ('time="2024-05-01T10:00:00Z" level=warning msg="cache miss"', "WARN"),
        ("STEP 1/4: FROM scratch", "INFO"),
        ("errors: none", "INFO"),
        ("Copying blob sha256:0123", "INFO"),
        ("an error occurred in the middle of a line", "INFO"),
    ],
)
def test_line_classification(line, level):
    assert classify(line) == level


@pytest.mark.parametrize(
    ("branch", "tag"),
    [
        ("main", "main"),
        ("feature/login-page", "feature-login-page"),
        ("release/1.2", "release-1.2"),
        (".hidden", "hidden"),
        ("-.-", "branch"),
        ("ünï", "n-"),
        ("x" * 300, "x" * 128),
    ],
)
def test_tag_safe(branch, tag):
    assert tag_safe(branch) == tag


@pytest.mark.parametrize(
    ("host", "insecure"),
    [
        ("127.0.0.1:5000", True),
        ("127.8.9.10:443", True),
        ("localhost:5000", True),
        ("localhost", True),
        ("[::1]:5000", True),
        ("registry.internal:5000", True),  # listed in INSECURE_REGISTRIES below
        ("registry.example.com", False),
        ("10.0.0.5:5000", False),
        ("localhost.example.com:5000", False),
        ("docker.io", False),
    ],
)
def test_is_insecure_registry(settings, host, insecure):
    settings.INSECURE_REGISTRIES = ["registry.internal:5000"]
    assert is_insecure_registry(host, settings.INSECURE_REGISTRIES) is insecure


@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        ("STEP 1/4: FROM scratch", ("1", "4", "FROM scratch")),
        (
            'STEP 12/12: RUN ["/bin/busybox", "sh", "-c", "echo a: b"]',
            ("12", "12", 'RUN ["/bin/busybox", "sh", "-c", "echo a: b"]'),
        ),
        ("STEP 1: FROM scratch", None),
        ("  STEP 1/2: FROM scratch", None),
        ("step 1/2: from scratch", None),
    ],
)
def test_step_line_parsing(line, parsed):
    match = STEP_LINE.match(line)
    assert (match.groups() if match else None) == parsed


# --- the real executor, without server or database -------------------------------------------


@dataclass
class CollectingReporter:
    lines: list[tuple[str, str, str]] = field(default_factory=list)  # (level, step, message)
    progress_seen: list[tuple[int, int | None, str]] = field(default_factory=list)
    commits: list[str] = field(default_factory=list)

    def line(self, message: str, *, level: str = "INFO", step: str, step_name: str = "", cut_bytes: int = 0) -> None:
        self.lines.append((level, step, message + (f" [cut {cut_bytes}]" if cut_bytes else "")))

    def progress(self, *, current_step: int, total_steps: int | None, step_name: str) -> None:
        self.progress_seen.append((current_step, total_steps, step_name))

    def source_commit(self, commit: str) -> None:
        self.commits.append(commit)

    def messages(self) -> list[str]:
        return [message for _, _, message in self.lines]


TENANT = "tenant-unit"


def spec_for(repo: GitRepo, image_repository: str, **fields) -> BuildSpec:
    return BuildSpec(
        tenant_id=TENANT,
        build_id=unique_token(),
        build_number=7,
        repository_url=repo.url,
        git_branch="main",
        git_commit=None,
        default_branch="main",
        dockerfile_path="Dockerfile",
        build_context=".",
        image_repository=image_repository,
        **fields,
    )


@pytest.fixture
def executor_run(buildah, tmp_path, settings):
    """executor_run(spec) -> (result or exception, reporter, executor) of a real prepare + run."""

    def run(spec: BuildSpec):
        executor, reporter = BuildahExecutor.from_settings(settings), CollectingReporter()
        workspace = tmp_path / f"workspace-{spec.build_id}"
        workspace.mkdir()
        try:
            executor.prepare(spec, workspace, reporter)
            outcome = executor.run(spec, workspace, reporter)
        except BuildUserError as exc:
            outcome = exc
        return outcome, reporter, executor

    return run


def test_executor_builds_and_pushes(executor_run, tmp_path, registry):
    repo, token = GitRepo(tmp_path / "repo"), unique_token()
    head = repo.commit_dockerfile("ARG WHO\n" + run_step(f"echo hello-$WHO-{token}"))
    name = f"unit/app-{token}"

    result, reporter, _ = executor_run(spec_for(repo, f"{registry.host}/{name}", build_args={"WHO": "unit"}))

    assert result.image_reference == f"{registry.host}/{name}:build-7"
    assert result.image_digest == registry.manifest_digest(name, "build-7")
    assert set(registry.tags(name)) == {"build-7", "main", "latest", head[:12]}
    assert reporter.commits == [head]
    assert f"hello-unit-{token}" in reporter.messages()
    assert not [line for line in reporter.lines if line[0] == "ERROR"]
    assert {step for _, step, _ in reporter.lines} == {"clone", "build", "push"}
    assert any(level == "DEBUG" and message.startswith("$ git clone") for level, _, message in reporter.lines)
    steps = [current for current, _, _ in reporter.progress_seen]
    assert steps == sorted(steps) and steps[0] == 1 and steps[-1] == 1 + 4 + 1
    assert reporter.progress_seen[-1] == (6, 6, "push")
    assert ("STEP 4/4: " + run_step(f"echo hello-$WHO-{token}")) in [name for _, _, name in reporter.progress_seen]


def test_executor_without_image_repository_builds_and_leaves_no_image_behind(executor_run, tmp_path):
    repo, token = GitRepo(tmp_path / "repo"), unique_token()
    repo.commit_dockerfile(run_step(f"echo local-{token}"))
    spec = spec_for(repo, "")

    result, reporter, executor = executor_run(spec)

    assert (result.image_reference, result.image_digest) == (None, None)
    assert f"local-{token}" in reporter.messages()
    images = subprocess.run(executor._buildah("images", "--format", "{{.Name}}"), capture_output=True, text=True)
    assert f"build-{spec.build_id}" not in images.stdout


def test_a_second_build_of_the_repository_reuses_the_cached_layers(executor_run, tmp_path, registry, settings):
    settings.BUILDAH_STORAGE_ROOT = str(tmp_path / "storage")  # only this test's builds can be the cache
    settings.BUILDAH_RUN_ROOT = str(tmp_path / "run")
    repo = GitRepo(tmp_path / "repo")
    repo.commit_dockerfile(run_step(f"echo first-{unique_token()}"))
    name = f"unit/cached-{unique_token()}"
    executor_run(spec_for(repo, f"{registry.host}/{name}"))  # pushed, then its push tags removed
    repo.commit_dockerfile(run_step(f"echo second-{unique_token()}"))

    _, reporter, _ = executor_run(spec_for(repo, f"{registry.host}/{name}"))

    messages = reporter.messages()
    copy_step = next(i for i, m in enumerate(messages) if m.startswith("STEP 2/3: COPY"))
    assert messages[copy_step + 1].startswith("--> Using cache"), messages[copy_step : copy_step + 3]


def test_executor_reports_a_failing_step(executor_run, tmp_path, registry):
    repo, token = GitRepo(tmp_path / "repo"), unique_token()
    repo.commit_dockerfile(run_step(f"echo broken-{token}; exit 4"))

    failure, reporter, _ = executor_run(spec_for(repo, f"{registry.host}/unit/broken-{token}"))

    assert isinstance(failure, BuildUserError), failure
    assert failure.message == f"step 3/3 {run_step(f'echo broken-{token}; exit 4')}: exit code 4"
    errors = [message for level, step, message in reporter.lines if level == "ERROR" and step == "build"]
    assert errors and all("exit status 4" in message for message in errors), reporter.lines[-5:]
    assert registry.tags(f"unit/broken-{token}") == []


# --- the layer cache stays bounded ----------------------------------------------------------


def images_in(settings, tenant: str = TENANT) -> list[str]:
    """The images in the tenant's own layer storage."""
    storage, run = Path(settings.BUILDAH_STORAGE_ROOT) / tenant, Path(settings.BUILDAH_RUN_ROOT) / tenant
    result = subprocess.run(
        [
            settings.BUILDAH_BINARY,
            "--storage-driver",
            settings.BUILDAH_STORAGE_DRIVER,
            "--root",
            str(storage),
            "--runroot",
            str(run),
            "images",
            "--all",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.split()


def image_names(settings, tenant: str = TENANT) -> list[str]:
    """The names (repository:tag) of the images in the tenant's own layer storage."""
    storage, run = Path(settings.BUILDAH_STORAGE_ROOT) / tenant, Path(settings.BUILDAH_RUN_ROOT) / tenant
    result = subprocess.run(
        [
            settings.BUILDAH_BINARY,
            *("--storage-driver", settings.BUILDAH_STORAGE_DRIVER, "--root", str(storage), "--runroot", str(run)),
            *("images", "--format", "{{.Name}}:{{.Tag}}"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return sorted(result.stdout.split())


def test_a_pushed_image_keeps_only_its_cache_anchor_and_no_tag_commands_run(executor_run, tmp_path, registry, settings):
    settings.BUILDAH_STORAGE_ROOT = str(tmp_path / "storage")  # only this test's images
    settings.BUILDAH_RUN_ROOT = str(tmp_path / "run")
    repo = GitRepo(tmp_path / "repo")
    head = repo.commit_dockerfile(run_step(f"echo anchored-{unique_token()}"))
    name = f"unit/anchored-{unique_token()}"
    spec = spec_for(repo, f"{registry.host}/{name}")

    _, reporter, _ = executor_run(spec)

    assert set(registry.tags(name)) == {"build-7", "main", "latest", head[:12]}
    assert image_names(settings) == [BuildahExecutor._cache_anchor(spec)]
    commands = [message.split()[8] for _, _, message in reporter.lines if message.startswith("$ buildah")]
    assert commands == ["bud", "push", "push", "push", "push"]  # bud names the image: one buildah run less per name


def test_a_failed_push_leaves_only_the_cache_anchor(executor_run, tmp_path, settings):
    settings.BUILDAH_STORAGE_ROOT = str(tmp_path / "storage")
    settings.BUILDAH_RUN_ROOT = str(tmp_path / "run")
    repo = GitRepo(tmp_path / "repo")
    repo.commit_dockerfile(run_step(f"echo unpushed-{unique_token()}"))
    spec = spec_for(repo, f"127.0.0.1:{free_port()}/unit/unpushed")  # nothing listens there

    with pytest.raises(BuildPlatformError, match="step push: pushing to 127.0.0.1"):
        executor_run(spec)

    assert image_names(settings) == [BuildahExecutor._cache_anchor(spec)]


@pytest.mark.parametrize(("limit", "pruned"), [(1, True), (10 * 1024**3, False)])
def test_cleanup_prunes_the_layer_cache_when_over_the_limit(executor_run, tmp_path, settings, limit, pruned):
    settings.BUILDAH_STORAGE_ROOT = str(tmp_path / "storage")  # not the shared test cache
    settings.BUILDAH_RUN_ROOT = str(tmp_path / "run")
    repo = GitRepo(tmp_path / "repo")
    repo.commit_dockerfile(run_step(f"echo cached-{unique_token()}"))
    result, _, _ = executor_run(spec_for(repo, ""))  # not pushed: its layers stay in the cache
    assert result.image_digest is None and images_in(settings)

    settings.BUILD_CACHE_MAX_BYTES = limit
    BuildahExecutor.from_settings(settings).cleanup()  # the limit is read when an executor is made

    assert (images_in(settings) == []) is pruned


def test_secrets_include_the_encoded_forms_tools_print():
    spec = BuildSpec(
        tenant_id=TENANT,
        build_id="b",
        build_number=1,
        repository_url="https://deploy:p%40ss-url@git.example.com/team/app.git",
        git_branch="main",
        git_commit=None,
        default_branch="main",
        dockerfile_path="Dockerfile",
        build_context=".",
        registry_username="robot",
        registry_password="s3cret/pass",
        git_username="deploy",
        git_password="git-pw",
    )

    secrets = spec.sensitive_values

    assert {"s3cret/pass", "s3cret%2Fpass", "git-pw", "p%40ss-url", "p@ss-url"} <= set(secrets)
    assert base64.b64encode(b"robot:s3cret/pass").decode() in secrets
    assert base64.b64encode(b"deploy:git-pw").decode() in secrets
    assert "robot" not in secrets and "deploy" not in secrets  # user names are not secret


# --- the sandbox's settings -------------------------------------------------------------------


def test_network_none_leaves_a_run_step_only_loopback(executor_run, tmp_path, settings):
    settings.BUILD_NETWORK = "none"
    repo = GitRepo(tmp_path / "repo")
    repo.commit_dockerfile(run_step(f"echo net-{unique_token()}; cat /proc/net/dev"))

    result, reporter, _ = executor_run(spec_for(repo, ""))

    interfaces = [
        m.split(":")[0].strip() for m in reporter.messages() if ":" in m and m.strip().startswith(("lo", "eth"))
    ]
    assert result.image_digest is None and interfaces == ["lo"], reporter.messages()[-8:]


def test_chroot_isolation_is_an_explicit_opt_in_that_still_builds(executor_run, tmp_path, settings):
    settings.BUILD_ISOLATION = "chroot"
    repo = GitRepo(tmp_path / "repo")
    repo.commit_dockerfile(run_step(f"echo chroot-{unique_token()}; cat /proc/self/uid_map"))

    result, reporter, _ = executor_run(spec_for(repo, ""))
    report = BuildahExecutor.check_host(settings)

    assert not isinstance(result, Exception) and any(m.split() == ["0", "0", "4294967295"] for m in reporter.messages())
    assert report.problems == [] and "WITHOUT a sandbox" in report.warnings[0]


def test_a_host_without_the_sandbox_is_refused_with_what_to_do(settings):
    settings.BUILD_OCI_RUNTIME = "no-such-runtime"

    report = BuildahExecutor.check_host(settings)

    assert any("'no-such-runtime' is not installed" in problem for problem in report.problems)
    assert any("BUILD_ISOLATION=chroot" in problem for problem in report.problems)


def test_this_host_can_sandbox_builds(settings):
    assert BuildahExecutor.check_host(settings).problems == []


def test_cleanup_never_prunes_a_storage_a_build_is_using(executor_run, tmp_path, settings):
    from builds.executors.buildah import storage_lock

    settings.BUILDAH_STORAGE_ROOT = str(tmp_path / "storage")
    settings.BUILDAH_RUN_ROOT = str(tmp_path / "run")
    repo = GitRepo(tmp_path / "repo")
    repo.commit_dockerfile(run_step(f"echo in-use-{unique_token()}"))
    executor_run(spec_for(repo, ""))
    settings.BUILD_CACHE_MAX_BYTES = 1

    with storage_lock(Path(settings.BUILDAH_STORAGE_ROOT) / TENANT, exclusive=False):  # a build runs there
        BuildahExecutor.from_settings(settings).cleanup()
        assert images_in(settings), "pruned under a running build"
    BuildahExecutor.from_settings(settings).cleanup()

    assert images_in(settings) == []


def test_bud_turn_waits_for_the_holder_and_says_so_once(tmp_path):
    waits: list[str] = []
    holder_in, holder_out = threading.Event(), threading.Event()

    def hold() -> None:
        with bud_turn(tmp_path, stopped=lambda: False, on_wait=lambda: waits.append("holder")):
            holder_in.set()
            holder_out.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    holder_in.wait(30)
    threading.Timer(1.0, holder_out.set).start()
    with bud_turn(tmp_path, stopped=lambda: False, on_wait=lambda: waits.append("second")):
        assert holder_out.is_set()  # its turn came only after the holder's ended
    holder.join(30)
    assert waits == ["second"]


def test_bud_turn_ends_a_wait_when_the_build_is_stopped(tmp_path):
    stop = threading.Event()
    with bud_turn(tmp_path, stopped=lambda: False, on_wait=lambda: None):
        threading.Timer(0.5, stop.set).start()
        with pytest.raises(BuildInterrupted):
            with bud_turn(tmp_path, stopped=stop.is_set, on_wait=lambda: None):
                pass


def test_a_tenants_second_build_waits_for_the_first_ones_build_step(executor_run, tmp_path, settings):
    """Two buds on one tenant storage could deadlock inside buildah; the second waits its turn."""
    settings.BUILDAH_STORAGE_ROOT = str(tmp_path / "storage")
    settings.BUILDAH_RUN_ROOT = str(tmp_path / "run")
    repo = GitRepo(tmp_path / "repo")
    repo.commit_dockerfile(run_step(f"echo turn-{unique_token()}"))
    outcome: list = []
    with bud_turn(Path(settings.BUILDAH_STORAGE_ROOT) / TENANT, stopped=lambda: False, on_wait=lambda: None):
        second = threading.Thread(target=lambda: outcome.append(executor_run(spec_for(repo, ""))))
        second.start()
        second.join(5)
        assert second.is_alive(), "built while another build of the tenant held the build step"
    second.join(300)

    result, reporter, _ = outcome[0]
    assert isinstance(result, BuildResult), result
    messages = reporter.messages()
    waited = next(i for i, m in enumerate(messages) if m.startswith("Another build of this tenant is in its build"))
    bud = next(i for i, m in enumerate(messages) if m.startswith("$ buildah") and " bud " in m)
    assert waited < bud
