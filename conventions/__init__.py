"""Project-wide conventions that every layer shares: physical names and the standard tags.

The bottom layer: it imports nothing of this project, so the profile (`config`), the builders
(`payment_platform`) and the guardrails can all hold the same rules without importing each other.
"""
