"""The one error type a user sees: one line naming the field, what is allowed and what was received."""


class SpecError(ValueError):
    """A bad spec, bad data or a bad command-line value. The CLI prints it on one line and exits with status 2."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class Unavailable(Exception):
    """A measurement that cannot run on this machine (a GPU asked of a framework build without one): reported as
    skipped, with this reason, rather than as a failure."""
