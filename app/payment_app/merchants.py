"""Merchant API keys: issue, list and revoke them (`python -m payment_app.merchants`).

A key is `pk_<key_id>_<secret>`: key_id is 16 lowercase hex characters (the public handle, for
listing and revoking), secret is `secrets.token_urlsafe(32)` (256 random bits). The database keeps
only SHA-256 of the secret (revision 0003), so a copy of the table authenticates nobody.

Operator command, run as a one-off ECS task with the API's task definition (its image, its
environment, its task role, which may read the master secret):

    python -m payment_app.merchants create-key MERCHANT_ID [--label L]
    python -m payment_app.merchants list-keys [MERCHANT_ID]
    python -m payment_app.merchants revoke-key KEY_ID

It logs in as the RDS master user with the RDS-managed master secret (DB_MIGRATION_SECRET_ARN,
read now and dropped at exit, as payment_app.migrate does) and switches to the owner role: the
serving role (DB_USER) can only verify keys, never create or revoke one.

`create-key` shows the key once and can never show it again. On ECS the awslogs driver ships
stdout to CloudWatch Logs, so a plain key printed by a one-off task would be readable by whoever
reads the API's log group. Hence `--encrypt-for PEM` (an RSA public key of at least 3072 bits,
the PEM text itself, so it fits in a run-task command override): stdout then carries only the
key encrypted with RSA-OAEP-SHA256, base64, which the operator decrypts on their own machine:

    base64 -d | openssl pkeyutl -decrypt -inkey operator-key.pem \
        -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256

Without `--encrypt-for` the plain key is printed only to a terminal (a local run); anywhere else
the command refuses before issuing anything. `list-keys` prints one JSON object per key and line.
A revoked key keeps working on a running API for up to API_KEY_CACHE_SECONDS (its cache).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import logging
import re
import secrets
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from payment_app import db
from payment_app.cardscan import contains_pan
from payment_app.config import ConfigError, Settings, load_settings
from payment_app.logs import configure_logging
from payment_app.migrate import (
    MasterCredentials,
    MigrationError,
    fetch_master_credentials,
    login_refused,
    stale_master_error,
)
from payment_app.migrations.roles import OWNER_ROLE
from payment_app.models import MERCHANT_ID_PATTERN

log = logging.getLogger(__name__)

KEY_PREFIX = "pk_"
KEY_ID_BYTES = 8  # 16 hex characters
SECRET_BYTES = 32  # 256 bits; token_urlsafe encodes them in 43 characters
LABEL_MAX_CHARS = 200
MERCHANT_ID = re.compile(MERCHANT_ID_PATTERN)  # the table's CHECK, checked here first
KEY_ID = re.compile(r"^[0-9a-f]{16}$")
# The whole presented key; fullmatch, so nothing may precede or follow it.
_API_KEY = re.compile(r"pk_([0-9a-f]{16})_([A-Za-z0-9_\-]{43})")
_CREATE_ATTEMPTS = 3  # a 64-bit key_id collision is astronomically rare; retrying costs nothing


class MerchantsError(RuntimeError):
    """The command cannot do what was asked; the message says why (never holds a key)."""


@dataclass(frozen=True)
class IssuedKey:
    """A freshly created key. `api_key` is the only copy of the plain key: shown once."""

    key_id: str
    merchant_id: str
    api_key: str = field(repr=False)


@dataclass(frozen=True)
class KeyInfo:
    """What may be shown about a stored key: never its hash."""

    key_id: str
    merchant_id: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None


def secret_digest(secret: str) -> bytes:
    """SHA-256 of a key's secret: what the table stores and verification compares.

    No key stretching (bcrypt, scrypt, PBKDF2): stretching makes guessing a low-entropy password
    expensive, but the secret is 256 random bits, so there is nothing to guess; a plain SHA-256
    is already preimage-resistant, and verification stays cheap on every request.
    """
    return hashlib.sha256(secret.encode("ascii")).digest()


def parse_key(api_key: str) -> tuple[str, str] | None:
    """(key_id, secret) of a well-formed key, else None; the format is public, not a secret."""
    match = _API_KEY.fullmatch(api_key)
    return (match.group(1), match.group(2)) if match else None


def _validate_merchant_id(merchant_id: str) -> None:
    if not MERCHANT_ID.match(merchant_id):
        raise ValueError(
            "merchant id must be 1 to 64 letters, digits, '_' or '-', got " + repr(merchant_id)
        )


def _validate_label(label: str | None) -> None:
    if label is not None and (not label.strip() or len(label) > LABEL_MAX_CHARS):
        raise ValueError(f"label must be non-blank and at most {LABEL_MAX_CHARS} characters")


def _new_key_parts() -> tuple[str, str]:
    """A random key id and secret whose key reads as no card number.

    16 hex characters hold a 13-16 digit run now and then, and the key's `_` joins the id's
    digits to the secret's: about one key in a few thousand would look like a PAN to the
    scanner, and be redacted wherever it is shown or logged. Drawing again costs nothing.
    """
    while True:
        key_id = secrets.token_hex(KEY_ID_BYTES)
        secret = secrets.token_urlsafe(SECRET_BYTES)
        if not contains_pan(f"{KEY_PREFIX}{key_id}_{secret}"):
            return key_id, secret


async def create_key(
    conn: asyncpg.Connection, merchant_id: str, label: str | None = None
) -> IssuedKey:
    """Issue a new key for the merchant; the plain key exists only in the returned value."""
    _validate_merchant_id(merchant_id)
    _validate_label(label)
    for _ in range(_CREATE_ATTEMPTS):
        key_id, secret = _new_key_parts()
        inserted = await conn.fetchval(
            """
            INSERT INTO api_keys (key_id, merchant_id, secret_sha256, label)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (key_id) DO NOTHING
            RETURNING key_id
            """,
            key_id,
            merchant_id,
            secret_digest(secret),
            label,
        )
        if inserted is not None:
            log.info("api key created", extra={"key_id": key_id, "merchant_id": merchant_id})
            return IssuedKey(key_id, merchant_id, f"{KEY_PREFIX}{key_id}_{secret}")
    raise MerchantsError("could not allocate a unique key id; retry")  # pragma: no cover


async def list_keys(conn: asyncpg.Connection, merchant_id: str | None = None) -> list[KeyInfo]:
    """Every key (or one merchant's), oldest first, revoked ones included."""
    records = await conn.fetch(
        """
        SELECT key_id, merchant_id, label, created_at, revoked_at FROM api_keys
        WHERE $1::text IS NULL OR merchant_id = $1
        ORDER BY merchant_id, created_at, key_id
        """,
        merchant_id,
    )
    return [KeyInfo(**dict(record)) for record in records]


async def revoke_key(conn: asyncpg.Connection, key_id: str) -> bool:
    """Revoke a key; False when no such key exists. Revoking twice keeps the first time."""
    revoked = await conn.fetchval(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE key_id = $1 "
        "RETURNING key_id",
        key_id,
    )
    if revoked is None:
        return False
    log.info("api key revoked", extra={"key_id": key_id})
    return True


async def connect_as_owner(settings: Settings, master: MasterCredentials) -> asyncpg.Connection:
    """One connection as the master user, switched to the owner role for the whole session."""
    kwargs = db.connect_kwargs(settings, master.password) | {
        "user": master.username,
        "timeout": 10,
        "server_settings": {"application_name": f"payment-merchants-{settings.environment}"},
    }
    try:
        conn = await asyncpg.connect(**kwargs)
    except asyncpg.PostgresError as exc:
        if not login_refused(getattr(exc, "sqlstate", None)):
            raise
        raise stale_master_error(settings, master) from None
    try:
        await conn.execute(f"SET ROLE {OWNER_ROLE}")
    except BaseException:
        await conn.close()
        raise
    return conn


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m payment_app.merchants", description="Manage merchant API keys."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-key", help="issue a key; printed once on stdout")
    create.add_argument("merchant_id")
    create.add_argument("--label", default=None, help="an operator note, e.g. who holds it")
    create.add_argument(
        "--encrypt-for",
        metavar="PEM",
        default=None,
        help="an RSA public key (PEM text, >= 3072 bits): print the key encrypted to it",
    )
    listing = commands.add_parser("list-keys", help="one JSON line per key (never the secret)")
    listing.add_argument("merchant_id", nargs="?", default=None)
    revoke = commands.add_parser("revoke-key", help="revoke a key by its key id")
    revoke.add_argument("key_id")
    return parser


def _json_line(info: KeyInfo) -> str:
    data: dict[str, Any] = asdict(info)
    for name in ("created_at", "revoked_at"):
        value = data[name]
        data[name] = value.isoformat() if value is not None else None
    return json.dumps(data, separators=(",", ":"))


async def _run(args: argparse.Namespace, settings: Settings, master: MasterCredentials) -> None:
    conn = await connect_as_owner(settings, master)
    try:
        if args.command == "create-key":
            recipient = _recipient(args.encrypt_for)  # refused before anything is issued
            issued = await create_key(conn, args.merchant_id, args.label)
            # NOTE: on ECS the awslogs driver passes a container's STDOUT and STDERR to
            # CloudWatch Logs (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/
            # using_awslogs.html): as a one-off task, this line lands in the API's log group,
            # which is why it carries the plain key only on a terminal.
            print(issued.api_key if recipient is None else _encrypt(recipient, issued.api_key))
            sys.stdout.flush()
            print(
                f"created key {issued.key_id} for merchant {issued.merchant_id}: store the key "
                "above now"
                + (" (encrypted to --encrypt-for)" if recipient is not None else "")
                + ", it cannot be shown again",
                file=sys.stderr,
            )
        elif args.command == "list-keys":
            for info in await list_keys(conn, args.merchant_id):
                print(_json_line(info))
        elif not await revoke_key(conn, args.key_id):
            raise MerchantsError(f"no API key with key id {args.key_id!r}; nothing revoked")
        else:
            print(f"revoked key {args.key_id}", file=sys.stderr)
    finally:
        await conn.close()


MIN_RSA_BITS = 3072


def _recipient(pem: str | None) -> rsa.RSAPublicKey | None:
    """The operator's public key; None (plain output) only when stdout is a terminal."""
    if pem is None:
        if sys.stdout.isatty():
            return None
        raise MerchantsError(
            "refusing to print a new API key where it may be logged (stdout is not a terminal, "
            "e.g. an ECS task, whose output goes to CloudWatch Logs): pass --encrypt-for with "
            "your RSA public key in PEM"
        )
    try:
        key = serialization.load_pem_public_key(pem.replace("\\n", "\n").encode())
    except ValueError:
        raise MerchantsError("--encrypt-for is not a PEM public key") from None
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_RSA_BITS:
        raise MerchantsError(f"--encrypt-for must be an RSA public key of >= {MIN_RSA_BITS} bits")
    return key


def _encrypt(recipient: rsa.RSAPublicKey, api_key: str) -> str:
    """RSA-OAEP with SHA-256 (openssl pkeyutl's oaep + sha256 options decrypt it), base64."""
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    return base64.b64encode(recipient.encrypt(api_key.encode(), oaep)).decode()


def _configure_logging(settings: Settings) -> None:
    """JSON logs as the service writes them, but on stderr: stdout carries only the output."""
    configure_logging(settings.log_level, "payment-merchants", settings.environment)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sys.stderr)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: one line on stderr and a non-zero exit for every expected failure."""
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(role="migrate")
    except ConfigError as exc:
        sys.exit(f"configuration error: {exc}")
    _configure_logging(settings)
    try:
        master = fetch_master_credentials(settings)
        asyncio.run(_run(args, settings, master))
    except (MigrationError, MerchantsError, ValueError) as exc:
        sys.exit(f"error: {exc}")
    except (BotoCoreError, ClientError) as exc:
        reason = type(exc).__name__
        if isinstance(exc, ClientError):
            reason = str(exc.response.get("Error", {}).get("Code", reason))
        sys.exit(
            f"error: cannot read DB_MIGRATION_SECRET_ARN ({settings.db_migration_secret_arn}): "
            f"{reason}"
        )
    except asyncpg.PostgresError as exc:
        sys.exit(
            f"error: the database refused the command ({type(exc).__name__}, SQLSTATE "
            f"{exc.sqlstate}); are the migrations at head?"
        )
    except (OSError, asyncpg.InterfaceError) as exc:
        sys.exit(f"error: the database is unavailable ({type(exc).__name__}); retry")


if __name__ == "__main__":
    main()
