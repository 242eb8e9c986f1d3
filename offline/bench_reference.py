"""A plain Pulumi program of a given size, recorded under the same mocks: the bench's floor.

No profile, no components, no config: N resources of simple types spread over the pulumi_aws
services the real program uses (each of those imported, as the real program imports them), so
`plan` / reference measures the project's own overhead above what the SDK costs anyway.

    python -m offline.bench_reference --resources 180 --services ec2,s3,sqs
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

# As `python -m offline` does: the same process settings, so the ratio compares programs.
gc.disable()

import pulumi_aws as aws  # noqa: E402

from offline.recorder import run_program  # noqa: E402

_ASSUME = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)

# One simple resource per service; no inputs beyond what the type requires.
FACTORIES: dict[str, Callable[[str], Any]] = {
    "sqs": lambda name: aws.sqs.Queue(name),
    "s3": lambda name: aws.s3.Bucket(name),
    "sns": lambda name: aws.sns.Topic(name),
    "kms": lambda name: aws.kms.Key(name),
    "cloudwatch": lambda name: aws.cloudwatch.LogGroup(name),
    "ecr": lambda name: aws.ecr.Repository(name),
    "ecs": lambda name: aws.ecs.Cluster(name),
    "ec2": lambda name: aws.ec2.Vpc(name, cidr_block="10.0.0.0/16"),
    "iam": lambda name: aws.iam.Role(name, assume_role_policy=_ASSUME),
}


def program(count: int, services: Sequence[str]) -> Callable[[], None]:
    """The program: `count` resources cycling over the factories of `services` (or SQS only)."""
    for service in services:  # pulumi_aws loads a service module on first attribute access
        getattr(importlib.import_module(f"pulumi_aws.{service}"), "__loaded__", None)
    makers = [FACTORIES[s] for s in services if s in FACTORIES] or [FACTORIES["sqs"]]

    def run() -> None:
        for i in range(count):
            makers[i % len(makers)](f"r{i}")

    return run


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.bench_reference")
    parser.add_argument("--resources", type=int, required=True)
    parser.add_argument("--services", default="sqs", help="comma-separated pulumi_aws services")
    args = parser.parse_args(argv)
    services = [s for s in args.services.split(",") if s]
    graph = run_program(program(args.resources, services), env="reference")
    print(f"{len(graph)} resources")
    return 0 if len(graph) == args.resources else 1


if __name__ == "__main__":
    sys.exit(main())
