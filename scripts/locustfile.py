"""Locust users for scripts/bench_app.py: payment creation and status reads on a warm cache.

    locust -f scripts/locustfile.py --headless -u 10 -r 10 -t 15s --host http://127.0.0.1:PORT

BENCH_STATUS_IDS names a file of payment ids (one a line) that bench_app.py created and read
during its warm-up, so every status read is served from a warm cache; BENCH_API_KEY is the
merchant key they belong to (every request carries it). Requests are named
"create" and "status", so locust's statistics keep the two apart.
"""

from __future__ import annotations

import os
import random
import uuid
from pathlib import Path

from locust import FastHttpUser, task

# Hex digits spelled as letters: tokens carry no digit run that looks like a card number (the API
# rejects those as card data).
_LETTERS = str.maketrans("0123456789abcdef", "ghijklmnopqrstuv")


def letters_id() -> str:
    """A fresh random identifier of 32 lower-case letters."""
    return uuid.uuid4().hex.translate(_LETTERS)


def payment_body() -> dict[str, object]:
    """A valid POST /payments body (see PaymentRequest in payment_app.models)."""
    return {
        "amount": random.randint(100, 99_999),
        "currency": "EUR",
        "payment_method_token": f"tok_bench_{letters_id()}",
        "description": "locust benchmark",
    }


def _status_ids() -> list[str]:
    path = os.environ.get("BENCH_STATUS_IDS")
    if not path:
        return []
    return [line for line in Path(path).read_text().splitlines() if line]


STATUS_IDS = _status_ids()
AUTHORIZATION = {"Authorization": f"Bearer {os.environ.get('BENCH_API_KEY', '')}"}


class PaymentUser(FastHttpUser):
    """Closed loop, no think time: three status reads for every payment created."""

    @task(1)
    def create(self) -> None:
        """POST /payments with a fresh Idempotency-Key; 202 is the only success."""
        with self.client.post(
            "/payments",
            json=payment_body(),
            headers={**AUTHORIZATION, "Idempotency-Key": f"bench-{letters_id()}"},
            name="create",
            catch_response=True,
        ) as response:
            if response.status_code != 202:
                response.failure(f"status {response.status_code}")

    @task(3)
    def status(self) -> None:
        """GET /payments/{id} for an id from the warm-up pool; 200 is the only success."""
        if not STATUS_IDS:
            return
        payment_id = random.choice(STATUS_IDS)
        with self.client.get(
            f"/payments/{payment_id}", headers=AUTHORIZATION, name="status", catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}")
