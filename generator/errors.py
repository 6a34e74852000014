"""One exception type for everything a user can fix.

The CLI prints ``rcar-k8s: error: <message>`` on one line and exits with ``exit_code``;
no traceback. Messages say what was wrong and how to fix it.
"""


class UserError(Exception):
    """A problem with the user's input or host that the user can fix (exit 2 by default)."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message
