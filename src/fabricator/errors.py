"""One exception tree for the whole toolkit.

Every error carries a ``hint`` (what the user should do) and ``retryable`` (whether the engine may
try the same request again). Errors from libraries are mapped to these at the boundary and raised
``from`` the original, so callers only ever catch ``FabricatorError``.
"""

from __future__ import annotations


class FabricatorError(Exception):
    """Base of every error the toolkit raises on purpose."""

    retryable: bool = False

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message}\n  fix: {hint}")


class ConfigError(FabricatorError, ValueError):
    """Bad input found before any model call: columns, labels, recipe, options."""


# --- backend errors -----------------------------------------------------------------------------


class BackendError(FabricatorError):
    """A model call failed. ``fatal`` errors stop the whole run; the others fail one row."""

    fatal: bool = False

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.retry_after = retry_after


class RateLimitError(BackendError):
    """HTTP 429: the endpoint asks us to slow down (honour ``retry_after``)."""

    retryable = True


class ServerError(BackendError):
    """HTTP 5xx or a malformed response body: usually transient."""

    retryable = True


class RequestTimeout(BackendError):
    """The request took longer than its timeout."""

    retryable = True


class ConnectionFailed(BackendError):
    """The connection could not be made or was dropped."""

    retryable = True


class AuthenticationError(BackendError):
    """HTTP 401/403: the key is missing, wrong or lacks access. Retrying cannot help."""

    fatal = True


class BadRequestError(BackendError):
    """HTTP 400/404/422: the request itself is wrong (model name, parameters). Retrying cannot help."""

    fatal = True


class PromptTooLong(BackendError):
    """HTTP 400 because the prompt exceeds the model's context: this row fails, the run goes on."""


class RequestRefused(BackendError):
    """A batch API did not run one request (no credit, an invalid request, a failed batch): this
    row fails, kept with the provider's message; the run goes on."""


class BackendUnavailable(BackendError):
    """The server cannot be reached at all (nothing listens there): stop the run at once."""

    fatal = True


# --- row-level errors ---------------------------------------------------------------------------


class ParseError(FabricatorError):
    """A model answer could not be turned into the typed fields of a row."""

    def __init__(self, message: str, *, raw: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.raw = raw


class RefusalError(ParseError):
    """The model refused or answered with chatter instead of data."""


# --- run control --------------------------------------------------------------------------------


class BudgetExceeded(FabricatorError):
    """The token or money budget of the run is spent; the run stops and keeps what is done."""
