"""Payment API and worker for the payment-platform service (API and worker share one image)."""

__version__ = "1.0.0"
