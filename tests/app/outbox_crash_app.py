"""The real API under uvicorn, made to die at one step of the outbox relay (test_outbox.py).

`python tests/app/outbox_crash_app.py PORT STEP` with the service's environment. STEP:

- `none`: serve normally (the restarted task);
- `after_commit`: SIGKILL itself when the relay is about to send, so nothing reaches SQS;
- `during_send`: the send hangs until the test SIGKILLs the process (a marker file, the path in
  CRASH_MARKER, says the relay is inside the call);
- `before_mark`: SQS accepts the batch, then the process SIGKILLs itself before the records are
  marked sent, so the restarted relay sends them again.

Nothing here is in the service: the crash points are installed from outside, on the relay's
one SQS call, the way a real crash would interrupt it.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import uvicorn
from payment_app import outbox
from payment_app.api import create_app
from payment_app.config import load_settings


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _install(step: str) -> None:
    real_send = outbox.OutboxRelay._send

    async def send(self: outbox.OutboxRelay, rows: list[Any]) -> tuple[list[str], list[str]]:
        if step == "after_commit":
            _die()
        if step == "during_send":
            Path(os.environ["CRASH_MARKER"]).write_text("in send")
            threading.Event().wait()  # blocks the event loop: the process is wedged in the call
        result = await real_send(self, rows)
        if step == "before_mark":
            _die()
        return result

    outbox.OutboxRelay._send = send  # type: ignore[method-assign]


def main() -> None:
    port, step = int(sys.argv[1]), sys.argv[2]
    if step != "none":
        _install(step)
    app = create_app(load_settings(role="api"))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
