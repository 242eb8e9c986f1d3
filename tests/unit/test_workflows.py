"""The GitHub workflows users adopt: what they run, in which order, with which credentials.

check-jsonschema and zizmor (`make lint`) validate the files' shape and security; these tests
hold what those cannot know: the pull request runs the README's test command, the snapshot diff
tolerates "changes" but not an error and keeps one comment up to date, every action is pinned by
commit, no static cloud key appears anywhere, and main deploys dev, staging and prod in order,
each stack alone, the later two behind their GitHub environments. The run scripts are executed
under bash (as the runner does) with stubs for the commands they call.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
PR = "pull-request.yml"
DEPLOY = "deploy.yml"
DEPLOY_ACCOUNT = "deploy-account.yml"
MARKER = "<!-- payment-platform-diff -->"
# The only secrets a workflow may read: the Pulumi backend's, never a cloud key (OIDC does that).
ALLOWED_SECRETS = {"PULUMI_ACCESS_TOKEN", "PULUMI_CONFIG_PASSPHRASE"}
PINNED_USES = re.compile(
    r"^\s*(?:-\s+)?uses:\s+(?P<action>[\w.-]+/[\w./-]+)@(?P<sha>[0-9a-f]{40})"
    r"\s+#\s+(?P<version>v\d+\.\d+\.\d+)\s*$"
)
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
# What GitHub runs a `shell: bash` step with.
BASH = ["bash", "--noprofile", "--norc", "-eo", "pipefail"]
PROMOTION = ("dev", "staging", "prod")

Workflow = dict[str, Any]
Job = dict[str, Any]
Step = dict[str, Any]


def load(name: str) -> Workflow:
    """One workflow, parsed. PyYAML reads the bare key `on` as True; it is put back."""
    parsed: dict[object, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return {("on" if key is True else str(key)): value for key, value in parsed.items()}


def workflow_files() -> list[Path]:
    return sorted(WORKFLOWS.glob("*.yml")) + sorted(WORKFLOWS.glob("*.yaml"))


def committed_stacks() -> set[str]:
    """Every environment stack with a committed Pulumi.<stack>.yaml: each must be deployed."""
    return {p.name.split(".")[1] for p in ROOT.glob("Pulumi.*.yaml")}


def steps_using(job: Job, action: str) -> list[Step]:
    return [s for s in job["steps"] if str(s.get("uses", "")).split("@")[0] == action]


def the_step_using(job: Job, action: str) -> Step:
    found = steps_using(job, action)
    assert len(found) == 1, f"expected one {action} step, found {len(found)}"
    return found[0]


def run_commands(job: Job) -> list[str]:
    return [str(s["run"]).strip() for s in job["steps"] if "run" in s]


def step_named(job: Job, step_id: str) -> Step:
    return next(s for s in job["steps"] if s.get("id") == step_id)


def all_strings(node: object) -> Iterator[str]:
    """Every key and scalar of a parsed workflow, as text."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield str(key)
            yield from all_strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from all_strings(item)
    elif node is not None:
        yield str(node)


def readme_test_command() -> str:
    """The command the README gives for the whole suite ("as CI runs it")."""
    for line in (ROOT / "README.md").read_text().splitlines():
        command, _, comment = line.partition("#")
        if command.startswith("make ") and "as CI runs it" in comment:
            return command.strip()
    raise AssertionError("README.md names no test command 'as CI runs it'")


def lock_pin(package: str) -> str:
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        name, _, version = line.partition("==")
        if name.strip().lower() == package:
            return version.strip()
    raise AssertionError(f"{package} is not pinned in requirements.lock")


# --- executing a step's script ---------------------------------------------------------------


@dataclass(frozen=True)
class StepRun:
    """What a run script did: its exit code, its stderr and the files the runner reads back."""

    returncode: int
    stdout: str
    stderr: str
    summary: str
    outputs: str


def render(value: str, contexts: Mapping[str, str]) -> str:
    """Substitute `${{ ... }}` as the runner would; an expression the test did not expect fails."""

    def one(match: re.Match[str]) -> str:
        expression = match.group(1)
        assert expression in contexts, f"unexpected expression in a step's env: {expression}"
        return contexts[expression]

    return EXPRESSION.sub(one, value)


def run_step(
    step: Step, workdir: Path, contexts: Mapping[str, str], stub_bin: Path | None = None
) -> StepRun:
    """Run a step's script under bash, in `workdir`, with the runner's files and the step's env."""
    assert step.get("shell") == "bash", "the step must run with `shell: bash` (-eo pipefail)"
    temp = workdir / "runner-temp"
    temp.mkdir(exist_ok=True)
    summary, outputs = workdir / "summary.md", workdir / "outputs.txt"
    summary.touch()
    outputs.touch()
    env = {
        "PATH": f"{stub_bin}{os.pathsep}{os.environ['PATH']}" if stub_bin else os.environ["PATH"],
        "HOME": str(workdir),
        "RUNNER_TEMP": str(temp),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(outputs),
        "GITHUB_REPOSITORY": "example-org/payment-platform",
    }
    env.update({k: render(str(v), contexts) for k, v in step.get("env", {}).items()})
    script = workdir / "step.sh"
    script.write_text(str(step["run"]))
    done = subprocess.run(
        [*BASH, str(script)], cwd=workdir, env=env, capture_output=True, text=True, timeout=60
    )
    return StepRun(
        done.returncode, done.stdout, done.stderr, summary.read_text(), outputs.read_text()
    )


def stub(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(0o755)


PR_CONTEXTS = {
    "github.base_ref": "main",
    "github.token": "token-for-tests",
    "github.event.pull_request.number": "42",
    "github.server_url": "https://github.com",
    "github.repository": "example-org/payment-platform",
    "github.run_id": "1001",
}


# --- every workflow --------------------------------------------------------------------------


def test_the_expected_workflows_exist() -> None:
    names = {p.name for p in workflow_files()}
    assert {PR, DEPLOY, DEPLOY_ACCOUNT} <= names


@pytest.mark.parametrize("path", workflow_files(), ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit_with_its_version(path: Path) -> None:
    """A tag can be moved to other code; a commit SHA cannot. The comment says which release."""
    lines = [line for line in path.read_text().splitlines() if re.match(r"^\s*(-\s+)?uses:", line)]
    assert lines, f"{path.name} uses no action"
    unpinned = [line.strip() for line in lines if not PINNED_USES.match(line)]
    assert not unpinned, f"{path.name}: not pinned as owner/repo@<sha> # vX.Y.Z: {unpinned}"


def test_each_action_is_pinned_to_one_commit_everywhere() -> None:
    """Two SHAs for one action would mean two versions drifting apart unnoticed."""
    seen: dict[str, set[tuple[str, str]]] = {}
    for path in workflow_files():
        for line in path.read_text().splitlines():
            if match := PINNED_USES.match(line):
                seen.setdefault(match["action"], set()).add((match["sha"], match["version"]))
    assert seen
    assert {action: pins for action, pins in seen.items() if len(pins) > 1} == {}


@pytest.mark.parametrize("path", workflow_files(), ids=lambda p: p.name)
def test_no_static_cloud_keys(path: Path) -> None:
    """AWS credentials come from OIDC only: no key secrets, no key inputs, no key env."""
    text = path.read_text()
    workflow = load(path.name)
    secrets = set(re.findall(r"secrets\.([A-Za-z_][A-Za-z0-9_]*)", text))
    assert secrets <= ALLOWED_SECRETS, f"{path.name} reads secrets {secrets - ALLOWED_SECRETS}"
    strings = list(all_strings(workflow))
    for forbidden in ("aws-access-key-id", "aws-secret-access-key", "aws-session-token"):
        assert forbidden not in strings, f"{path.name} passes {forbidden}"
    for forbidden in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        assert not any(forbidden in s for s in strings), f"{path.name} mentions {forbidden}"
    for job_id, job in workflow["jobs"].items():
        for step in steps_using(job, "aws-actions/configure-aws-credentials"):
            assert step["with"]["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}", job_id
            assert job["permissions"] == {"id-token": "write", "contents": "read"}, job_id


@pytest.mark.parametrize("path", workflow_files(), ids=lambda p: p.name)
def test_least_permissions(path: Path) -> None:
    """Nothing at the workflow level; every job names what it needs; no job may push."""
    workflow = load(path.name)
    assert workflow["permissions"] in ({}, {"contents": "read"})
    for job_id, job in workflow["jobs"].items():
        assert "permissions" in job, f"{job_id} inherits instead of naming its permissions"
        assert job["permissions"].get("contents") == "read", job_id
        for step in steps_using(job, "actions/checkout"):
            assert step["with"]["persist-credentials"] is False, job_id


def test_cloud_jobs_target_each_stacks_region() -> None:
    """The credentials' region is the one every stack file deploys to."""
    regions = {
        yaml.safe_load(p.read_text())["config"]["aws:region"] for p in ROOT.glob("Pulumi.*.yaml")
    }
    for path in workflow_files():
        for job in load(path.name)["jobs"].values():
            for step in steps_using(job, "aws-actions/configure-aws-credentials"):
                assert {step["with"]["aws-region"]} == regions


def test_pulumi_cli_matches_the_locked_sdk() -> None:
    """The CLI the actions install is the release of the SDK the program is locked to."""
    sdk = lock_pin("pulumi")
    for path in workflow_files():
        for job in load(path.name)["jobs"].values():
            for step in steps_using(job, "pulumi/actions"):
                assert str(step["with"]["pulumi-version"]) == sdk


# --- pull-request.yml ------------------------------------------------------------------------


def test_pull_request_runs_the_readme_test_command() -> None:
    workflow = load(PR)
    assert "pull_request" in workflow["on"]
    job = workflow["jobs"]["test"]
    the_step_using(job, "actions/checkout")
    assert str(the_step_using(job, "actions/setup-python")["with"]["python-version"]) == "3.11"
    assert run_commands(job) == ["sudo bash scripts/install-services.sh", readme_test_command()]


def test_diff_job_has_history_and_may_comment() -> None:
    job = load(PR)["jobs"]["diff"]
    checkout = the_step_using(job, "actions/checkout")
    assert checkout["with"]["fetch-depth"] == 0
    assert job["permissions"] == {"contents": "read", "pull-requests": "write"}
    step = step_named(job, "diff")
    assert step["env"]["BASE_REF"] == "${{ github.base_ref }}"
    assert "--base" in step["run"]


def test_only_the_diff_job_may_write_to_the_pull_request() -> None:
    jobs = load(PR)["jobs"]
    writers = {j for j, job in jobs.items() if "pull-requests" in job.get("permissions", {})}
    assert writers == {"diff"}


def diff_workdir(tmp_path: Path, exit_code: int) -> Path:
    """A checkout whose `.venv/bin/python` records its arguments and prints a diff."""
    stub(
        tmp_path / ".venv" / "bin" / "python",
        f'printf "%s\\n" "$@" > "{tmp_path}/argv"\n'
        'echo "## prod: 1 resource changed"\n'
        'echo "diagnostic for the log" >&2\n'
        f"exit {exit_code}\n",
    )
    return tmp_path


@pytest.mark.parametrize(("exit_code", "changes"), [(0, "false"), (1, "true")])
def test_diff_step_reports_no_change_and_changes_without_failing(
    tmp_path: Path, exit_code: int, changes: str
) -> None:
    """Exit 1 means "the graph changed": a result for the reviewer, not a failed check."""
    step = step_named(load(PR)["jobs"]["diff"], "diff")
    result = run_step(step, diff_workdir(tmp_path, exit_code), PR_CONTEXTS)
    assert result.returncode == 0, result.stderr
    argv = (tmp_path / "argv").read_text().split()
    assert argv == ["-m", "offline", "diff", "--base", "origin/main", "--format", "markdown"]
    assert "## prod: 1 resource changed" in result.summary
    assert f"changes={changes}" in result.outputs.splitlines()
    assert (tmp_path / "runner-temp" / "diff.md").read_text() == "## prod: 1 resource changed\n"


@pytest.mark.parametrize("exit_code", [2, 3])
def test_diff_step_fails_on_an_error(tmp_path: Path, exit_code: int) -> None:
    step = step_named(load(PR)["jobs"]["diff"], "diff")
    result = run_step(step, diff_workdir(tmp_path, exit_code), PR_CONTEXTS)
    assert result.returncode == exit_code
    assert f"exit code {exit_code}" in result.stdout
    assert result.summary == ""


def comment_step() -> Step:
    job = load(PR)["jobs"]["diff"]
    found: list[Step] = [s for s in job["steps"] if "gh api" in str(s.get("run", ""))]
    assert len(found) == 1
    return found[0]


def gh_stub(tmp_path: Path, comments: list[dict[str, Any]]) -> Path:
    """A `gh` that lists `comments` (two pages) and records each write with the body it sent."""
    bin_dir = tmp_path / "bin"
    half = len(comments) // 2
    (tmp_path / "page1.json").write_text(json.dumps(comments[:half]))
    (tmp_path / "page2.json").write_text(json.dumps(comments[half:]))
    stub(
        bin_dir / "gh",
        f"""log="{tmp_path}/gh.log"
if [ "$1 $2" = "api --paginate" ]; then
  echo "LIST $3" >> "$log"
  cat "{tmp_path}/page1.json"; echo; cat "{tmp_path}/page2.json"
  exit 0
fi
method="$3"; endpoint="$4"; field="$6"
echo "$method $endpoint" >> "$log"
cp "${{field#body=@}}" "{tmp_path}/sent-body.md"
""",
    )
    return bin_dir


def comment_workdir(tmp_path: Path, markdown: str) -> None:
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    (temp / "diff.md").write_text(markdown)


def bot(comment_id: int, body: str) -> dict[str, Any]:
    return {"id": comment_id, "user": {"login": "github-actions[bot]"}, "body": body}


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq (on every GitHub runner) is missing")
def test_comment_step_edits_the_previous_diff_comment(tmp_path: Path) -> None:
    """One comment per pull request: a later push edits the bot's marked comment, no other."""
    comments = [
        {"id": 1, "user": {"login": "reviewer"}, "body": f"{MARKER}\nquoted by a human"},
        bot(2, "another bot message"),
        bot(3, f"{MARKER}\n\n## dev: old diff"),
        {"id": 4, "user": {"login": "reviewer"}, "body": "looks good"},
    ]
    bin_dir = gh_stub(tmp_path, comments)
    comment_workdir(tmp_path, "## dev: new diff\n")
    result = run_step(comment_step(), tmp_path, PR_CONTEXTS, stub_bin=bin_dir)
    assert result.returncode == 0, result.stderr
    log = (tmp_path / "gh.log").read_text().splitlines()
    assert log == [
        "LIST repos/example-org/payment-platform/issues/42/comments",
        "PATCH repos/example-org/payment-platform/issues/comments/3",
    ]
    sent = (tmp_path / "sent-body.md").read_text()
    assert sent.startswith(MARKER)
    assert "## dev: new diff" in sent


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq (on every GitHub runner) is missing")
def test_comment_step_posts_the_first_diff_comment(tmp_path: Path) -> None:
    bin_dir = gh_stub(tmp_path, [bot(2, "another bot message")])
    comment_workdir(tmp_path, "## staging: first diff\n")
    result = run_step(comment_step(), tmp_path, PR_CONTEXTS, stub_bin=bin_dir)
    assert result.returncode == 0, result.stderr
    log = (tmp_path / "gh.log").read_text().splitlines()
    assert log[-1] == "POST repos/example-org/payment-platform/issues/42/comments"
    sent = (tmp_path / "sent-body.md").read_text()
    assert sent.startswith(MARKER)
    assert "## staging: first diff" in sent


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq (on every GitHub runner) is missing")
def test_comment_step_points_to_the_summary_when_the_diff_is_too_long(tmp_path: Path) -> None:
    """GitHub refuses a comment over 65536 characters; the run summary holds the whole diff."""
    bin_dir = gh_stub(tmp_path, [])
    comment_workdir(tmp_path, "x" * 70_000)
    result = run_step(comment_step(), tmp_path, PR_CONTEXTS, stub_bin=bin_dir)
    assert result.returncode == 0, result.stderr
    sent = (tmp_path / "sent-body.md").read_text()
    assert sent.startswith(MARKER)
    assert len(sent) < 65_536
    assert "https://github.com/example-org/payment-platform/actions/runs/1001" in sent


def test_preview_runs_only_with_credentials_for_every_stack() -> None:
    job = load(PR)["jobs"]["preview"]
    assert "vars.AWS_ROLE_ARN != ''" in job["if"]
    assert job["permissions"] == {"id-token": "write", "contents": "read"}
    assert set(job["strategy"]["matrix"]["stack"]) == committed_stacks()
    assert job["env"]["ENV_FOR_DYNACONF"] == "${{ matrix.stack }}"
    pulumi = the_step_using(job, "pulumi/actions")
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["diff"] is True
    assert pulumi["with"]["stack-name"] == "${{ matrix.stack }}"
    assert pulumi["with"]["policyPacks"] == "policy/"
    assert pulumi["env"]["PULUMI_ACCESS_TOKEN"] == "${{ secrets.PULUMI_ACCESS_TOKEN }}"
    steps = [str(s.get("uses", "")).split("@")[0] for s in job["steps"]]
    assert steps.index("aws-actions/configure-aws-credentials") < steps.index("pulumi/actions")


# --- deploy.yml ------------------------------------------------------------------------------


def test_deploy_runs_on_main_after_the_suite() -> None:
    workflow = load(DEPLOY)
    assert workflow["on"] == {"push": {"branches": ["main"]}}
    assert run_commands(workflow["jobs"]["test"])[-1] == readme_test_command()
    assert workflow["jobs"]["dev"]["needs"] == "test"


def test_every_committed_stack_is_deployed() -> None:
    assert set(PROMOTION) == committed_stacks()
    assert set(PROMOTION) <= set(load(DEPLOY)["jobs"])


@pytest.mark.parametrize(("stack", "previous"), [("staging", "dev"), ("prod", "staging")])
def test_staging_and_prod_wait_for_their_environment_and_the_previous_stage(
    stack: str, previous: str
) -> None:
    """The environment's required reviewers approve; the stage before must have deployed."""
    job = load(DEPLOY)["jobs"][stack]
    assert job["environment"] == stack
    assert job["needs"] == previous


@pytest.mark.parametrize("stack", PROMOTION)
def test_each_stack_deploys_alone(stack: str) -> None:
    """One group per stack, never cancelled midway: a half-applied `up` is the worst outcome."""
    job = load(DEPLOY)["jobs"][stack]
    assert job["concurrency"]["cancel-in-progress"] is False
    groups = [load(DEPLOY)["jobs"][s]["concurrency"]["group"] for s in PROMOTION]
    assert len(set(groups)) == len(groups)
    assert stack in job["concurrency"]["group"]


@pytest.mark.parametrize("stack", PROMOTION)
def test_each_deploy_job_ups_its_own_stack(stack: str) -> None:
    job = load(DEPLOY)["jobs"][stack]
    assert job["env"]["ENV_FOR_DYNACONF"] == stack
    pulumi = the_step_using(job, "pulumi/actions")
    assert pulumi["with"]["command"] == "up"
    assert pulumi["with"]["stack-name"] == stack
    assert pulumi["with"]["policyPacks"] == "policy/"


def test_the_deploy_jobs_differ_only_in_their_stack() -> None:
    """Written out three times for readability; this keeps the copies from drifting apart."""
    jobs = load(DEPLOY)["jobs"]

    def shape(stack: str) -> str:
        job = {k: v for k, v in jobs[stack].items() if k not in ("needs", "if")}
        return json.dumps(job, sort_keys=True).replace(stack, "<stack>")

    assert shape("staging") == shape("dev") == shape("prod")


# --- deploy-account.yml ----------------------------------------------------------------------


def test_account_stack_is_deployed_by_hand_from_main_after_approval() -> None:
    workflow = load(DEPLOY_ACCOUNT)
    assert set(workflow["on"]) == {"workflow_dispatch"}
    stacks = {p.name.split(".")[1] for p in (ROOT / "account").glob("Pulumi.*.yaml")}
    assert set(workflow["on"]["workflow_dispatch"]["inputs"]["stack"]["options"]) == stacks
    preview, up = workflow["jobs"]["preview"], workflow["jobs"]["up"]
    assert "github.ref == 'refs/heads/main'" in preview["if"]
    assert up["needs"] == "preview"
    assert up["environment"] == "account"
    assert up["concurrency"]["cancel-in-progress"] is False
    for job, command in ((preview, "preview"), (up, "up")):
        pulumi = the_step_using(job, "pulumi/actions")
        assert pulumi["with"]["command"] == command
        assert pulumi["with"]["work-dir"] == "account"
