"""Every domain rule that can be broken has its own error; the API turns them into 4xx with the reason."""


class DomainError(Exception):
    status_code = 409


class NotAllowed(DomainError):
    """The person asking may not do this."""

    status_code = 403


class NotFound(DomainError):
    status_code = 404


class InvalidTransition(DomainError):
    """The finding is not in a status where this step is possible."""


class FindingAlreadyClosed(InvalidTransition):
    pass


class StaleFinding(DomainError):
    """The finding changed under us between read and write; the caller retries or reports a conflict."""


class InvalidInput(DomainError):
    """Input that names something unknown; `field` says which."""

    status_code = 422

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class ReferenceInUse(InvalidInput):
    """A client reference its sender already gave to a different inspection."""

    status_code = 409
