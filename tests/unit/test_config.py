"""Layered configuration: precedence, merging, provenance, selection, plain data, secrets, errors.

Every value a test relies on is one it writes into a scratch copy of the environments, so no
test breaks (or passes by luck) when a committed environment changes.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

import config
from config import SECRET, ConfigError
from config.loader import _Layer, _merge, offline_placeholder, toml_lines
from conventions import naming
from offline.recorder import run_program, stack_config
from payment_platform import messaging
from tests import fakes
from tests.conftest import config_error, resolve_at


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + "\n" + text + "\n")


def set_default(root: Path, key: str, value: object) -> None:
    """Give a key of environments/default.toml a value this test chose (the key is unique)."""
    path = root / "environments/default.toml"
    text, count = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", path.read_text())
    assert count == 1, f"{key} is not set exactly once in default.toml"
    path.write_text(text)


def line_of(path: Path, pattern: str) -> int:
    """The 1-based line of the first line matching `pattern` (computed, never copied)."""
    lines = path.read_text().splitlines()
    return next(n for n, line in enumerate(lines, start=1) if re.search(pattern, line))


def write_stack(root: Path, name: str, *entries: str) -> str:
    """A stack file `Pulumi.<name>.yaml` holding exactly `entries` (YAML lines under config:)."""
    body = "".join(f"  {entry}\n" for entry in entries)
    (root / f"Pulumi.{name}.yaml").write_text(f"config:\n  aws:region: us-east-1\n{body}")
    return f"Pulumi.{name}.yaml"


def resolve_stack(root: Path, name: str) -> config.Resolved:
    return config.resolve(
        stack_config(name, root=root), stack_file=f"Pulumi.{name}.yaml", root=root
    )


def stack_error(root: Path, name: str) -> str:
    with pytest.raises(ConfigError) as caught:
        resolve_stack(root, name)
    return str(caught.value)


def absent_environment(root: Path) -> str:
    """An environment name that has no file here, and never will (it is random)."""
    name = f"nosuch-{uuid.uuid4().hex[:8]}"
    assert name not in config.known_environments(root)
    return name


# --- precedence, merging, provenance -------------------------------------------------------


def test_each_layer_wins_over_the_ones_below(root: Path) -> None:
    set_default(root, "max_acu", 5)
    (root / "environments/dev.toml").write_text("")
    assert resolve_at(root).profile.database.max_acu == 5
    (root / "environments/dev.toml").write_text("[database]\nmax_acu = 6\n")
    assert resolve_at(root).profile.database.max_acu == 6
    (root / "environments/suffixes/dev.toml").write_text("[database]\nmax_acu = 7\n")
    assert resolve_at(root).profile.database.max_acu == 7
    stacked = resolve_at(root, database={"max_acu": 8})
    assert stacked.profile.database.max_acu == 8
    assert stacked.sources["database.max_acu"].layer == "stack"


def test_a_layer_setting_one_key_keeps_the_sections_other_keys(root: Path) -> None:
    set_default(root, "min_acu", 1)
    set_default(root, "master_username", '"merge_probe"')
    (root / "environments/dev.toml").write_text("[database]\nmax_acu = 6\n")
    resolved = resolve_at(root)
    db = resolved.profile.database
    assert (db.min_acu, db.max_acu, db.master_username) == (1, 6, "merge_probe")
    assert resolved.sources["database.max_acu"].file == "environments/dev.toml"
    assert resolved.sources["database.min_acu"].file == "environments/default.toml"
    # A suffix layer touching one key leaves the environment layer's other keys in place.
    (root / "environments/suffixes/pr-7.toml").write_text("[database]\nreader_count = 1\n")
    suffixed = resolve_at(root, environmentSuffix="pr-7")
    assert suffixed.profile.database.reader_count == 1
    assert suffixed.profile.database.max_acu == 6
    assert suffixed.sources["database.reader_count"].file == "environments/suffixes/pr-7.toml"


def test_provenance_names_every_layer(root: Path) -> None:
    (root / "environments/dev.toml").write_text('[network]\nvpc_cidr = "10.99.0.0/16"\n')
    (root / "environments/suffixes/pr-7.toml").write_text("[cache]\nreplica_count = 1\n")
    resolved = resolve_at(root, environmentSuffix="pr-7", edge={"waf_rate_limit": 500})
    layers = {
        key: resolved.sources[key].layer
        for key in ("tags.owner", "network.vpc_cidr", "cache.replica_count", "edge.waf_rate_limit")
    }
    assert layers == {
        "tags.owner": "default",
        "network.vpc_cidr": "environment",
        "cache.replica_count": "suffix",
        "edge.waf_rate_limit": "stack",
    }


def test_every_value_names_its_file_and_line(root: Path) -> None:
    dev = root / "environments/dev.toml"
    dev.write_text(
        "# comment\n\n[database]\n# another\nmax_acu = 6\n\n[cache]\nreplica_count = 0\n"
    )
    stack_file = write_stack(
        root,
        "dev",
        "payment:environment: dev",
        "payment:environmentSuffix: dev",
        "payment:edge:",
        "  waf_rate_limit: 700",
    )
    resolved = resolve_stack(root, "dev")
    default = root / "environments/default.toml"
    stack = root / stack_file
    expected = {
        "database.max_acu": ("environments/dev.toml", 5),
        "cache.replica_count": ("environments/dev.toml", 8),
        "tags.owner": ("environments/default.toml", line_of(default, r"^owner = ")),
        "edge.waf_rate_limit": (stack_file, line_of(stack, "waf_rate_limit")),
        "deployment.environment_suffix": (stack_file, line_of(stack, "environmentSuffix")),
    }
    for key, (file, line) in expected.items():
        source = resolved.sources[key]
        assert (source.file, source.line) == (file, line), key
        assert str(source).endswith(f"{file}:{line}")


def test_toml_lines_follow_tables_dotted_and_quoted_keys() -> None:
    text = (
        'top = 1\n[database]\nmax_acu = 4  # four\n"min_acu" = 1\n'
        "[ cache ]\nnode.type = 'x'\ninline = { a = 1 }\n"
    )
    assert toml_lines(text) == {
        "top": 1,
        "database": 2,
        "database.max_acu": 3,
        "database.min_acu": 4,
        "cache": 5,
        "cache.node.type": 6,
        "cache.inline": 7,
    }


def test_a_value_overridden_from_outside_the_file_gets_no_line(root: Path) -> None:
    # --suffix (or any override) is not what the file's line says: no line is claimed for it.
    cfg = stack_config("dev", "pr-7", root=root)
    resolved = config.resolve(cfg, stack_file="Pulumi.dev.yaml", root=root)
    assert resolved.sources["deployment.environment_suffix"].line is None
    assert resolved.sources["deployment.environment"].line is not None


def test_profile_is_frozen(root: Path) -> None:
    profile = resolve_at(root).profile
    with pytest.raises(ValueError):
        profile.database.max_acu = 99  # type: ignore[misc]


def test_every_committed_stack_loads_as_its_environment(root: Path) -> None:
    for env in config.known_environments(root):
        in_file = stack_config(env, root=root)
        profile = resolve_at(root, env).profile
        assert profile.env == in_file["payment:environment"] == env
        assert profile.suffix == in_file["payment:environmentSuffix"]


# --- environment and suffix selection ------------------------------------------------------


def test_env_var_selects_when_stack_is_silent(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENV_FOR_DYNACONF", "staging")
    cfg = {"payment:environmentSuffix": "pr-7"}
    resolved = config.resolve(cfg, stack_file="Pulumi.x.yaml", root=root)
    assert (resolved.profile.env, resolved.profile.suffix) == ("staging", "pr-7")
    assert resolved.sources["deployment.environment"].file == "ENV_FOR_DYNACONF"


def test_env_var_and_stack_must_agree(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENV_FOR_DYNACONF", "prod")
    message = config_error(root, "dev")
    assert "ENV_FOR_DYNACONF='prod'" in message
    assert "payment:environment='dev'" in message
    line = line_of(root / "Pulumi.dev.yaml", "payment:environment:")
    assert f"Pulumi.dev.yaml:{line}" in message
    monkeypatch.setenv("ENV_FOR_DYNACONF", "dev")
    assert resolve_at(root, "dev").profile.env == "dev"


def test_no_environment_at_all(root: Path) -> None:
    with pytest.raises(ConfigError, match="no environment selected"):
        config.resolve({"payment:environmentSuffix": "x"}, stack_file="Pulumi.x.yaml", root=root)


def test_unknown_environment(root: Path) -> None:
    name = absent_environment(root)
    message = config_error(root, "dev", environment=name)
    assert "unknown environment" in message and repr(name) in message
    assert "dev, staging, prod" in message


def test_new_environment_is_data_only(root: Path) -> None:
    name = absent_environment(root)
    (root / f"environments/{name}.toml").write_text(
        "[compute]\ndesired_count = 2\nmin_count = 2\nmax_count = 20\n"
    )
    assert name in config.known_environments(root)
    assert resolve_at(root, "dev", environment=name, environmentSuffix="pr-1").profile.env == name


def test_every_stack_must_name_its_suffix(root: Path) -> None:
    # A pr-7 stack on dev without environmentSuffix must not silently get dev's names.
    stack_file = write_stack(root, "pr-7", "payment:environment: dev")
    message = stack_error(root, "pr-7")
    assert message.startswith("payment:environmentSuffix: missing in Pulumi.pr-7.yaml")
    assert "pulumi config set payment:environmentSuffix" in message
    assert "\n" not in message
    write_stack(root, "pr-7", "payment:environment: dev", "payment:environmentSuffix: pr-7")
    assert resolve_stack(root, "pr-7").profile.suffix == "pr-7"
    assert stack_file in message


@pytest.mark.parametrize("other", ["staging", "prod"])
def test_suffix_may_not_be_another_environments_name(root: Path, other: str) -> None:
    write_stack(root, "pr-7", "payment:environment: dev", f"payment:environmentSuffix: {other}")
    message = stack_error(root, "pr-7")
    line = line_of(root / "Pulumi.pr-7.yaml", "environmentSuffix")
    assert message.startswith(f"payment:environmentSuffix = {other!r} (Pulumi.pr-7.yaml:{line})")
    assert "allowed: 'dev'" in message and "\n" not in message
    # The same with the suffix given from outside the file (`plan --suffix`): still refused.
    with pytest.raises(ConfigError, match="the name of environment"):
        config.resolve(stack_config("dev", other, root=root), stack_file="x", root=root)


def test_a_stack_may_use_its_own_environments_name(root: Path) -> None:
    assert resolve_at(root, "dev", environmentSuffix="dev").profile.suffix == "dev"


# --- layers are plain data -----------------------------------------------------------------

TOKENS = ["@int 2", "@format {env[HOME]}", "@format {env[NO_SUCH_VAR]}", "@json [1]"]


@pytest.mark.parametrize("token", TOKENS)
@pytest.mark.parametrize(
    ("layer", "name"),
    [
        ("environments/default.toml", "default"),
        ("environments/dev.toml", "environment"),
        ("environments/suffixes/dev.toml", "suffix"),
    ],
)
def test_an_at_value_in_a_file_is_an_error(root: Path, layer: str, name: str, token: str) -> None:
    path = root / layer
    if name == "default":
        set_default(root, "owner", f'"{token}"')
    else:
        path.write_text(f'[tags]\nowner = "{token}"\n')
    line = line_of(path, "^owner = ")
    assert config_error(root) == (
        f"tags.owner = {token!r} ({name} layer, {layer}:{line}): starts with '@'; layers are "
        "plain data and Dynaconf tokens (@format, @int, @json, ...) are not evaluated: "
        "write the value itself"
    )


@pytest.mark.parametrize("token", TOKENS)
def test_an_at_value_in_stack_config_is_an_error(root: Path, token: str) -> None:
    message = config_error(root, compute={"min_count": token})
    assert message.startswith(f"compute.min_count = {token!r} (stack layer, Pulumi.dev.yaml)")
    assert "starts with '@'" in message and "\n" not in message


def test_dynaconf_itself_never_evaluates_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    # Even past the check, and with Dynaconf's casting forced on from the environment.
    monkeypatch.setenv("AUTO_CAST_FOR_DYNACONF", "true")
    layer = _Layer(
        config.Source("default", "x"),
        {"tags": {"owner": "@int 2", "compliance": "@format {env[HOME]}"}},
    )
    assert _merge([layer]) == {"tags": {"owner": "@int 2", "compliance": "@format {env[HOME]}"}}


def test_values_injected_through_dynaconf_settings_are_refused(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    injected = tmp_path / "injected.toml"
    injected.write_text('[deployment]\nimage_uri = "injected"\n')
    monkeypatch.setenv("CORE_LOADERS_FOR_DYNACONF", "['TOML']")
    monkeypatch.setenv("SETTINGS_FILE_FOR_DYNACONF", str(injected))
    message = config_error(root)
    assert "deployment.image_uri: the merge does not match the layers" in message
    assert "SETTINGS_FILE_FOR_DYNACONF" in message


# --- secrets -------------------------------------------------------------------------------


def test_the_alert_email_is_the_only_secret() -> None:
    # Certificate ARN, domain, image URI and the admin user name identify, they do not grant.
    assert {"deployment.alert_email"} == config.SECRET_KEYS


def test_a_plaintext_secret_is_validated_and_never_shown(root: Path) -> None:
    address = "oncall-probe@example.org"
    profile = resolve_at(root, alertEmail=address).profile
    secret = profile.deployment.alert_email
    assert secret is not None and secret.get_secret_value() == address
    assert address not in repr(profile) and address not in str(profile.model_dump())
    message = config_error(root, alertEmail="not-an-address-probe")
    assert message.startswith("deployment.alert_email = [secret] (stack layer, Pulumi.dev.yaml)")
    assert "not-an-address-probe" not in message


def test_an_encrypted_secret_offline_is_unknown_and_gets_a_placeholder(root: Path) -> None:
    write_stack(
        root,
        "pr-7",
        "payment:environment: dev",
        "payment:environmentSuffix: pr-7",
        "payment:alertEmail:",
        "  secure: v1:c2VjcmV0LXByb2Jl",
    )
    resolved = resolve_stack(root, "pr-7")
    key = "deployment.alert_email"
    assert resolved.unknown == {key}
    secret = resolved.profile.deployment.alert_email
    assert secret is not None and secret.get_secret_value() == offline_placeholder(key)
    assert resolved.shown(key) == SECRET
    assert resolved.sources[key].line == line_of(root / "Pulumi.pr-7.yaml", "alertEmail")
    # The engine hands the program the decrypted text: that is validated as usual.
    cfg = stack_config("pr-7", root=root) | {"payment:alertEmail": "not-an-address"}
    with pytest.raises(ConfigError, match=r"deployment.alert_email = \[secret\]"):
        config.resolve(cfg, stack_file="Pulumi.pr-7.yaml", root=root)


def test_an_encrypted_value_that_is_no_secret_is_refused_offline(root: Path) -> None:
    message = config_error(root, imageUri={"secure": "v1:abc"})
    assert message.startswith(
        "deployment.image_uri: encrypted (secure:) (stack layer, Pulumi.dev.yaml), but not a secret"
    )
    assert "`pulumi config set payment:imageUri <value>`" in message
    assert "secrets: payment:alertEmail" in message


def test_a_secret_is_never_kept_in_a_file(root: Path) -> None:
    append(root / "environments/dev.toml", '[deployment]\nalert_email = "a@b.example"')
    message = config_error(root)
    assert "deployment.alert_email: a secret, never kept in a file" in message
    assert "environments/dev.toml:" in message
    assert "pulumi config set --secret payment:alertEmail" in message


def test_the_builders_receive_the_secret_as_a_secret_output(root: Path) -> None:
    profile = resolve_at(root, alertEmail="oncall-probe@example.org").profile

    def program() -> None:
        messaging.build(profile, fakes.keys())

    graph = run_program(program, env="dev", redact_secrets=True)
    [subscription] = [
        r
        for r in graph.of_type("aws:sns/topicSubscription:TopicSubscription")
        if r.get("protocol") == "email"
    ]
    assert subscription.get("endpoint") == SECRET  # marked secret: Pulumi encrypts and masks it
    assert subscription.get("topic") != SECRET


# --- numbers from stack config -------------------------------------------------------------


def test_numeric_text_from_stack_config_is_a_number(root: Path) -> None:
    # `pulumi config set --path payment:database.min_acu 2.5` stores the text "2.5".
    resolved = resolve_at(
        root, database={"min_acu": "2.5", "max_acu": "8"}, compute={"image_keep_count": "15"}
    )
    db, compute = resolved.profile.database, resolved.profile.compute
    assert (db.min_acu, db.max_acu, compute.image_keep_count) == (2.5, 8.0, 15)
    assert type(compute.image_keep_count) is int
    message = config_error(root, compute={"image_keep_count": "fifteen"})
    assert "compute.image_keep_count = 'fifteen' (stack layer, Pulumi.dev.yaml)" in message


def test_toml_layers_stay_strictly_typed(root: Path) -> None:
    (root / "environments/dev.toml").write_text('[database]\nmax_acu = "8"\n')
    message = config_error(root)
    assert "database.max_acu = '8' (environment layer, environments/dev.toml:2)" in message


# --- validation: every error names key, layer/file:line, value, what is allowed -------------


def test_misspelt_key_in_each_layer(root: Path) -> None:
    default = root / "environments/default.toml"
    default.write_text(default.read_text().replace("max_receive_count", "max_recieve_count"))
    message = config_error(root)
    line = line_of(default, "max_recieve_count")
    assert "messaging.max_recieve_count: unknown key" in message
    assert f"environments/default.toml:{line}" in message
    assert "max_receive_count" in message  # says what is allowed


@pytest.mark.parametrize("layer", ["dev.toml", "suffixes/dev.toml"])
def test_misspelt_key_in_file_layers(root: Path, layer: str) -> None:
    (root / "environments" / layer).write_text("[databse]\nmax_acu = 4\n")
    message = config_error(root)
    assert "databse: unknown section (" in message
    assert f"environments/{layer}:1" in message


def test_misspelt_key_in_stack_config(root: Path) -> None:
    message = config_error(root, alertEmial="a@b.co")
    assert "payment:alertEmial: unknown stack config key" in message
    assert "Pulumi.dev.yaml" in message


def test_a_dotted_stack_key_without_path_gets_a_hint(root: Path) -> None:
    cfg = stack_config("dev", root=root) | {"payment:database.max_acu": 4}
    with pytest.raises(ConfigError) as caught:
        config.resolve(cfg, stack_file="Pulumi.dev.yaml", root=root)
    message = str(caught.value)
    assert "use `pulumi config set --path 'payment:database.max_acu' <value>`" in message


def test_wrong_type(root: Path) -> None:
    append(root / "environments/dev.toml", '[cache]\nreplica_count = "two"')
    message = config_error(root)
    assert "cache.replica_count = 'two'" in message
    assert "environments/dev.toml" in message
    assert "integer" in message


def test_out_of_aws_range(root: Path) -> None:
    message = config_error(root, database={"max_acu": 512})
    assert "database.max_acu = 512" in message
    assert "stack layer, Pulumi.dev.yaml" in message
    assert "less than or equal to 256" in message


def test_invalid_fargate_pair_names_each_key(root: Path) -> None:
    message = config_error(root, compute={"cpu": 256, "memory": 4096})
    assert message.startswith(
        "compute.cpu = 256 (stack layer, Pulumi.dev.yaml), "
        "compute.memory = 4096 (stack layer, Pulumi.dev.yaml): "
        "memory=4096 is not valid with cpu=256"
    )
    assert "{" not in message  # the section is not dumped as the value


def test_storage_order_names_each_key_and_its_file(root: Path) -> None:
    set_default(root, "transition_to_ia_days", 30)
    (root / "environments/dev.toml").write_text("[storage]\ntransition_to_glacier_days = 40\n")
    message = config_error(root)
    ia_line = line_of(root / "environments/default.toml", "^transition_to_ia_days")
    assert message == (
        f"storage.transition_to_ia_days = 30 (default layer, environments/default.toml:{ia_line}), "
        "storage.transition_to_glacier_days = 40 (environment layer, environments/dev.toml:2): "
        "transition_to_glacier_days=40 must be at least 30 days after transition_to_ia_days=30"
    )


def test_min_count_set_in_the_environment_file_is_blamed_on_it(root: Path) -> None:
    for key, value in (("desired_count", 1), ("min_count", 1), ("max_count", 10)):
        set_default(root, key, value)
    (root / "environments/dev.toml").write_text("[compute]\nmin_count = 2\n")
    message = config_error(root)
    default_line = line_of(root / "environments/default.toml", "^desired_count")
    assert "compute.min_count = 2 (environment layer, environments/dev.toml:2)" in message
    assert (
        f"compute.desired_count = 1 (default layer, environments/default.toml:{default_line})"
        in message
    )


def test_max_acu_lowered_in_the_stack_file_is_blamed_on_it(root: Path) -> None:
    (root / "environments/dev.toml").write_text("[database]\nmin_acu = 4\nmax_acu = 8\n")
    write_stack(
        root,
        "dev",
        "payment:environment: dev",
        "payment:environmentSuffix: dev",
        "payment:database:",
        "  max_acu: 2",
    )
    message = stack_error(root, "dev")
    line = line_of(root / "Pulumi.dev.yaml", "max_acu")
    assert "database.min_acu = 4 (environment layer, environments/dev.toml:2)" in message
    assert f"database.max_acu = 2 (stack layer, Pulumi.dev.yaml:{line})" in message


def test_autoscaling_must_absorb_a_10x_spike(root: Path) -> None:
    message = config_error(root, compute={"desired_count": 2, "min_count": 1, "max_count": 10})
    assert "compute.max_count" in message
    assert "10x spike" in message and "at least 20" in message


def test_high_availability_minimums(root: Path) -> None:
    (root / "environments/suffixes/dev.toml").write_text("[deployment]\nhigh_availability = true\n")
    message = config_error(root, database={"reader_count": 0}, cache={"replica_count": 0})
    assert "database.reader_count = 0 (stack layer" in message
    assert "at least 1 Aurora reader" in message
    assert (
        "deployment.high_availability = True (suffix layer, environments/suffixes/dev.toml:2)"
        in (message)
    )
    message = config_error(root, network={"az_count": 2, "endpoint_az_count": 2})
    assert "network.az_count" in message and "3 AZs" in message


def test_production_refuses_the_worker_on_spot(root: Path) -> None:
    (root / "environments/suffixes/dev.toml").write_text(
        "[deployment]\nproduction = true\nhigh_availability = true\n[compute]\nworker_spot = true\n"
    )
    message = config_error(root)
    assert "compute.worker_spot" in message and "on-demand" in message
    assert "environments/suffixes/dev.toml" in message


def test_production_cannot_turn_high_availability_off(root: Path) -> None:
    (root / "environments/suffixes/dev.toml").write_text(
        "[deployment]\nproduction = true\nhigh_availability = false\n"
    )
    message = config_error(root)
    assert "deployment.high_availability = False" in message
    assert "environments/suffixes/dev.toml:3" in message


@pytest.mark.parametrize(
    "suffix",
    ["PR-142", "pr 142", "pr;rm", "../etc", "pr_142", "-pr", "pr-", "pr--1", "", "a" * 18],
)
def test_hostile_suffixes(root: Path, suffix: str) -> None:
    message = config_error(root, environmentSuffix=suffix)
    assert "deployment.environment_suffix" in message
    assert "Pulumi.dev.yaml" in message


def test_long_suffix_names_the_resource_and_limit(root: Path) -> None:
    message = config_error(root, environmentSuffix="feature-abcdefghij")
    limit = naming.NAMES["tg"].limit
    assert "aws.lb.TargetGroup name" in message and f"limit {limit}" in message


def test_selection_keys_cannot_come_from_files(root: Path) -> None:
    append(root / "environments/dev.toml", '[deployment]\nenvironment_suffix = "x"')
    assert "set by ENV_FOR_DYNACONF or stack config" in config_error(root)


def test_malformed_toml_names_the_file(root: Path) -> None:
    append(root / "environments/dev.toml", "[database\nmax_acu = 4")
    message = config_error(root)
    assert message.startswith("environments/dev.toml: malformed TOML")


def test_malformed_stack_yaml(root: Path) -> None:
    (root / "Pulumi.dev.yaml").write_text("config:\n  payment:environment: [dev\n")
    with pytest.raises(ConfigError, match=r"Pulumi.dev.yaml: malformed YAML"):
        stack_config("dev", root=root)


def test_a_top_level_stack_number_arrives_as_text_as_under_the_engine(root: Path) -> None:
    # `payment:environmentSuffix: 142` in YAML reaches a program as the text "142".
    assert resolve_at(root, environmentSuffix=142).profile.suffix == "142"
