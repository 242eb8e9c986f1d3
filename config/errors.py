"""The one error type configuration loading raises: a list of one-line, actionable messages."""


class ConfigError(Exception):
    """Bad configuration, found before any resource is registered.

    Each message names the key, the layer and file, the value and what is allowed.
    """

    def __init__(self, *messages: str) -> None:
        super().__init__("\n".join(messages))
        self.messages = list(messages)
