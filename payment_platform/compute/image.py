"""The ECR repository and the image the services run.

Creates the repository (scan on push, immutable tags, the data key, a lifecycle keeping
`compute.image_keep_count` images) and, unless `deployment.image_uri` names an image a CI
pipeline pushed, the service image built from `app/` and pushed by pulumi-docker-build.

Builders read no files; the one exception is `image_tag`, which hashes the build context
(`app/`) so that the image tag changes exactly when what Docker would build changes.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_docker_build as docker_build

from config import Profile
from conventions.naming import IMAGE_BUILD_TAG_PREFIX
from payment_platform.component import Scope
from payment_platform.keys import KeysOutputs

# The build context as `docker build` sees it: relative to the project root, where Pulumi runs
# the program. APP_DIR is the same directory located from this file, for hashing.
CONTEXT = "app"
DOCKERFILE = "app/Dockerfile"
APP_DIR = Path(__file__).resolve().parents[2] / CONTEXT
# Local caches that must never reach an image (app/.dockerignore should list them too).
IGNORED_PARTS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
IGNORED_SUFFIXES = frozenset({".pyc", ".pyo"})


@dataclass(frozen=True)
class Image:
    """The repository, the image reference the tasks run, and the ARN tasks pull from."""

    repository: aws.ecr.Repository
    ref: pulumi.Output[str]
    # The repository the execution role may pull from: the CI pipeline's when it pushed the
    # image, otherwise this stack's own.
    pull_repository_arn: pulumi.Output[str]


def image_tag(context_dir: Path = APP_DIR) -> str:
    """A content tag for the build context: the same files give the same tag.

    Hashes every file's relative path and bytes, skipping local caches (`__pycache__`, `.pyc`).
    """
    digest = hashlib.sha256()
    files = sorted(
        path
        for path in context_dir.rglob("*")
        if path.is_file()
        and not IGNORED_PARTS.intersection(path.relative_to(context_dir).parts)
        and path.suffix not in IGNORED_SUFFIXES
    )
    for path in files:
        digest.update(path.relative_to(context_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    # offline/snapshot.py normalises the hex part so snapshots ignore app/ edits.
    return IMAGE_BUILD_TAG_PREFIX + digest.hexdigest()[:16]


def repository_arn_from_uri(image_uri: str) -> str:
    """The ECR repository ARN of `<account>.dkr.ecr.<region>.amazonaws.com/<repo>[:tag|@digest]`."""
    host, _, rest = image_uri.partition("/")
    account, _, _, region = host.split(".")[:4]
    repository = re.split(r"[:@]", rest, maxsplit=1)[0]
    return f"arn:aws:ecr:{region}:{account}:repository/{repository}"


def repository_and_image(profile: Profile, keys: KeysOutputs, scope: Scope) -> Image:
    """The repository, and the image the tasks run: the CI pipeline's, or one built here."""
    repo = _repository(profile, keys, scope)
    ref = _image(profile, repo, scope.child)
    pull_repository_arn: pulumi.Output[str] = (
        pulumi.Output.from_input(repository_arn_from_uri(profile.deployment.image_uri))
        if profile.deployment.image_uri
        else repo.arn
    )
    return Image(repository=repo, ref=ref, pull_repository_arn=pull_repository_arn)


def _repository(profile: Profile, keys: KeysOutputs, scope: Scope) -> aws.ecr.Repository:
    """A hardened repository that keeps only the newest `compute.image_keep_count` images."""
    keep = profile.compute.image_keep_count
    repo = aws.ecr.Repository(
        "api",
        name=profile.name("api"),
        # NOTE: the program's own tags repeat until app/ changes, and anything that rebuilds
        # under the same tag (a `refresh` that drops the image from state, a lost build cache)
        # pushes a new digest under it: with immutable tags ECR refuses that push
        # (ImageTagAlreadyExistsException). The tasks pin the image by digest, so the digest is
        # the identity and a build tag is only a label: those tags (`build-*`) may move, every
        # other tag stays immutable (ECR's IMMUTABLE_WITH_EXCLUSION with a wildcard filter).
        image_tag_mutability="IMMUTABLE_WITH_EXCLUSION",
        image_tag_mutability_exclusion_filters=[
            aws.ecr.RepositoryImageTagMutabilityExclusionFilterArgs(
                filter=f"{IMAGE_BUILD_TAG_PREFIX}*", filter_type="WILDCARD"
            )
        ],
        image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(
            scan_on_push=True
        ),
        encryption_configurations=[
            aws.ecr.RepositoryEncryptionConfigurationArgs(
                encryption_type="KMS", kms_key=keys.data_key_arn
            )
        ],
        force_delete=True,
        opts=scope.named,
    )
    rule = {
        "rulePriority": 1,
        "description": f"keep the newest {keep} images",
        "selection": {
            "tagStatus": "any",
            "countType": "imageCountMoreThan",
            "countNumber": keep,
        },
        "action": {"type": "expire"},
    }
    aws.ecr.LifecyclePolicy(
        "api", repository=repo.name, policy=json.dumps({"rules": [rule]}), opts=scope.child
    )
    return repo


# The Docker platform an image for each Fargate CPU architecture is built for.
PLATFORMS = {
    "X86_64": docker_build.Platform.LINUX_AMD64,
    "ARM64": docker_build.Platform.LINUX_ARM64,
}


def _image(
    profile: Profile, repo: aws.ecr.Repository, opts: pulumi.ResourceOptions
) -> pulumi.Output[str]:
    """The image reference the task definitions run, pinned by digest when built here."""
    if profile.deployment.image_uri:
        return pulumi.Output.from_input(profile.deployment.image_uri)
    auth = aws.ecr.get_authorization_token_output(registry_id=repo.registry_id)
    tag = image_tag()
    image = docker_build.Image(
        "api",
        context=docker_build.BuildContextArgs(location=CONTEXT),
        dockerfile=docker_build.DockerfileArgs(location=DOCKERFILE),
        # The image's architecture is the tasks' runtime_platform (compute.cpu_architecture).
        platforms=[PLATFORMS[profile.compute.cpu_architecture]],
        push=True,
        # The tag is a hash of app/: an unchanged app/ reuses the tag and nothing is rebuilt or
        # pushed; any change gets a new tag. The task definitions run the pushed digest.
        tags=[pulumi.Output.concat(repo.repository_url, ":", tag)],
        registries=[
            docker_build.RegistryArgs(
                address=repo.repository_url.apply(lambda url: url.split("/")[0]),
                username=auth.user_name,
                password=pulumi.Output.secret(auth.password),
            )
        ],
        opts=opts,
    )
    return pulumi.Output.concat(repo.repository_url, "@", image.digest)
