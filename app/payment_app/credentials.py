"""Credentials for PostgreSQL and Redis, minted for every new connection.

No long-lived secret is injected any more, so none can rotate under a running service: with IAM
(the ECS default) every new connection gets a fresh 15-minute token signed with the task role's
current credentials. `password` mode (local runs, tests) serves a fixed password instead,
through the same interfaces.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

import botocore.session  # type: ignore[import-untyped]
from botocore.auth import SigV4QueryAuth  # type: ignore[import-untyped]
from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
from redis.credentials import CredentialProvider

from payment_app import aws
from payment_app.config import Settings

# NOTE: no extra VPC endpoint is needed for either token. Both are SigV4 presigned URLs computed
# locally (no request is sent) with the task role's credentials, which the ECS agent serves on the
# task's link-local credentials endpoint (169.254.170.2); so no call to STS, RDS or ElastiCache
# APIs leaves the VPC, and the database and the cache validate the signature on their side.
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/UsingWithRDS.IAMDBAuth.Connecting.html
# https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/auth-iam.html

# Both services cap an IAM token's validity at 15 minutes; it only has to outlive the handshake.
TOKEN_EXPIRES_SECONDS = 900

# asyncpg accepts a callable as `password` and calls (and awaits) it for every new connection.
DbPassword = Callable[[], Awaitable[str]]


class SigningCredentials(Protocol):
    """What SigV4 signs with: botocore's Credentials or a frozen snapshot of them."""

    access_key: str
    secret_key: str
    token: str | None


# --- PostgreSQL ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StaticPassword:
    """DB_AUTH=password: the same password for every connection (local runs and tests only)."""

    password: str = field(repr=False)

    async def __call__(self) -> str:
        """The password, as asyncpg asks for it on each new connection."""
        return self.password


@dataclass(frozen=True)
class RdsIamToken:
    """DB_AUTH=iam: a fresh RDS auth token for every new connection, never cached.

    `rds` is a boto3 RDS client; `generate_db_auth_token` presigns locally (service `rds-db`,
    15 minutes), but resolving or refreshing the role credentials behind it can block, so it
    runs in a thread.
    """

    rds: Any = field(repr=False)
    host: str
    port: int
    user: str
    region: str

    async def __call__(self) -> str:
        """A token for one connection attempt."""
        return await asyncio.to_thread(self.generate)

    def generate(self) -> str:
        """The token itself: a presigned `connect` URL without its scheme."""
        token: str = self.rds.generate_db_auth_token(
            DBHostname=self.host, Port=self.port, DBUsername=self.user, Region=self.region
        )
        return token


def db_password_provider(settings: Settings) -> DbPassword:
    """The provider the pool uses, chosen by DB_AUTH."""
    if settings.db_auth == "password":
        return StaticPassword(settings.db_password)
    return RdsIamToken(
        aws.client(settings, "rds"),
        settings.db_host,
        settings.db_port,
        settings.db_user,
        settings.aws_region,
    )


# --- Redis -----------------------------------------------------------------------------------


def elasticache_auth_token(
    credentials: SigningCredentials,
    cache_name: str,
    user: str,
    region: str,
    expires: int = TOKEN_EXPIRES_SECONDS,
) -> str:
    """AWS's documented token for a provisioned cluster: a presigned `connect` request.

    The host is the replication group id (lowercase), not a node address. `ResourceType` is
    added only for serverless caches, so it is absent here.
    """
    request = AWSRequest(
        method="GET", url=f"http://{cache_name}/?Action=connect&User={quote(user, safe='')}"
    )
    SigV4QueryAuth(credentials, "elasticache", region, expires=expires).add_auth(request)
    url: str = request.url
    return url.removeprefix("http://")


class DefaultAwsCredentials:
    """boto's default chain (on ECS: the task role via the container credentials endpoint).

    The chain is resolved once; botocore's refreshable credentials then renew themselves before
    they expire, and every call returns a consistent snapshot (key, secret and session token).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._credentials: Any = None

    def __call__(self) -> SigningCredentials:
        """The current credentials; may block (first resolution, refresh)."""
        with self._lock:
            if self._credentials is None:
                self._credentials = botocore.session.get_session().get_credentials()
            if self._credentials is None:
                raise RuntimeError("no AWS credentials found (on ECS: the task role)")
        frozen: SigningCredentials = self._credentials.get_frozen_credentials()
        return frozen


@dataclass(frozen=True)
class ElastiCacheIamCredentials(CredentialProvider):
    """REDIS_AUTH=iam: `(user, token)` with a fresh token for every new connection, never cached.

    redis-py asks for credentials each time it (re)connects, which is what keeps reconnects after
    ElastiCache's 12-hour disconnect working long after the first token expired.
    """

    user: str
    cache_name: str
    region: str
    credentials: Callable[[], SigningCredentials] = field(
        default_factory=DefaultAwsCredentials, repr=False
    )

    def get_credentials(self) -> tuple[str, str]:
        """For redis-py's synchronous client."""
        token = elasticache_auth_token(self.credentials(), self.cache_name, self.user, self.region)
        return self.user, token

    async def get_credentials_async(self) -> tuple[str, str]:
        """For the asyncio client; in a thread, since a credential refresh can block."""
        return await asyncio.to_thread(self.get_credentials)


@dataclass(frozen=True)
class StaticRedisCredentials(CredentialProvider):
    """REDIS_AUTH=password: a fixed ACL user and password (local runs and tests only)."""

    user: str
    password: str = field(repr=False)

    def get_credentials(self) -> tuple[str] | tuple[str, str]:
        """`(password,)` authenticates as the default user, `(user, password)` as an ACL user."""
        return (self.user, self.password) if self.user else (self.password,)

    async def get_credentials_async(self) -> tuple[str] | tuple[str, str]:
        """Nothing to wait for."""
        return self.get_credentials()


def redis_credentials_provider(settings: Settings) -> CredentialProvider:
    """The provider the Redis client uses, chosen by REDIS_AUTH."""
    if settings.redis_auth == "password":
        return StaticRedisCredentials(settings.redis_user, settings.redis_password)
    return ElastiCacheIamCredentials(
        settings.redis_user, settings.redis_cache_name, settings.aws_region
    )
