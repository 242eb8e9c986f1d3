"""CrossGuard policy pack running the project's guardrails (see policy/__main__.py)."""
