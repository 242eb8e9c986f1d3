"""Queue worker that drives payments through pending -> processing -> succeeded | failed."""

from payment_app.worker.service import PaymentWorker

__all__ = ["PaymentWorker"]
