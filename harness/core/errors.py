"""The one error type a user sees: one line naming the field, what is allowed and what was received."""


class SpecError(ValueError):
    """A bad spec, bad data or a bad command-line value. The CLI prints it on one line and exits with status 2."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


def first_line(error: BaseException, limit: int = 160) -> str:
    """The first line of an error's message (its type's name when it has none), printable and cut to `limit`
    characters: what a one-line SpecError quotes of a library's error."""
    lines = str(error).strip().splitlines()
    text = "".join(char if char.isprintable() else "?" for char in (lines[0] if lines else type(error).__name__))
    return text if len(text) <= limit else text[:limit - 3] + "..."


class Unavailable(Exception):
    """A measurement that cannot run on this machine (a GPU asked of a framework build without one): reported as
    skipped, with this reason, rather than as a failure."""
