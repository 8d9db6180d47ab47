"""Exceptions raised by the FHIR adapters (all subclasses of `adapters.errors`).

    InputRejected
    +-- FhirInputRejected (code "input.fhir")               a FHIR body we cannot take (push or poll)
        +-- FhirNotJson (code "input.fhir_json")            not JSON, or truncated JSON
        +-- FhirNullValue (code "input.fhir_null")          a JSON null (illegal in FHIR JSON)
        +-- FhirNotAResource (code "input.fhir_resource")   no or unknown ``resourceType``
        +-- FhirInvalidElement (code "input.fhir_element")  an element breaks an R4 rule
    SourceUnavailable
    +-- UpstreamError (code "source.fhir")                  the vendor did not give us a usable answer
        +-- UpstreamUnreachable (code "source.fhir_unreachable")   connect error, timeout, 5xx
        +-- UpstreamThrottled (code "source.fhir_throttled")       429 / 503; ``retry_after`` seconds
        +-- UpstreamBadResponse (code "source.fhir_bad_response")  HTML, truncated JSON, not a Bundle
        +-- UpstreamOperationFailed (code "source.fhir_outcome")   an OperationOutcome error, also
        |                                                          inside a 200
        +-- TokenRequestFailed (code "source.fhir_token")          the token endpoint said no
        |                                                          (``invalid_client``, ...)
        +-- TokenRefreshTooSoon (code "source.fhir_token_rate")    a refresh within the minimum
        |                                                          interval was refused locally
        +-- CircuitOpen (code "source.fhir_circuit_open")          the breaker is open; no request sent
        +-- BudgetExhausted (code "source.fhir_budget")            the request budget is spent

Messages carry status codes, error codes and element paths, never response bodies: a vendor's
answer can echo PHI back.
"""

from __future__ import annotations

from adapters.errors import InputRejected, SourceUnavailable


class FhirInputRejected(InputRejected):
    """Raised when a FHIR body cannot be turned into records; ``problems`` names the element."""

    code = "input.fhir"


class FhirNotJson(FhirInputRejected):
    """Raised when the body is not JSON (HTML, truncated JSON, another encoding)."""

    code = "input.fhir_json"


class FhirNullValue(FhirInputRejected):
    """Raised when the body contains a JSON ``null``, which FHIR JSON forbids."""

    code = "input.fhir_null"


class FhirNotAResource(FhirInputRejected):
    """Raised when the JSON has no ``resourceType`` or one that is not an R4 resource name."""

    code = "input.fhir_resource"


class FhirInvalidElement(FhirInputRejected):
    """Raised when an element breaks an R4 rule (a narrative without ``status``, an issue without
    ``severity``, an entry without ``resource``)."""

    code = "input.fhir_element"


class UpstreamError(SourceUnavailable):
    """Raised when a FHIR server call fails; ``retry_after`` is the server's wish in seconds."""

    code = "source.fhir"

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class UpstreamUnreachable(UpstreamError):
    """Raised on connect errors, timeouts and 5xx answers other than 503."""

    code = "source.fhir_unreachable"


class UpstreamThrottled(UpstreamError):
    """Raised on 429 and 503; honour ``retry_after``."""

    code = "source.fhir_throttled"


class UpstreamBadResponse(UpstreamError):
    """Raised when a 2xx answer is not the FHIR JSON we asked for (HTML, truncated JSON, ...)."""

    code = "source.fhir_bad_response"


class UpstreamOperationFailed(UpstreamError):
    """Raised when the server answers with an OperationOutcome of severity error or fatal, with a
    4xx status or inside a 200."""

    code = "source.fhir_outcome"


class TokenRequestFailed(UpstreamError):
    """Raised when the token endpoint rejects us; ``oauth_error`` is its ``error`` code."""

    code = "source.fhir_token"

    def __init__(self, message: str, *, oauth_error: str = "", status: int | None = None) -> None:
        super().__init__(message, status=status)
        self.oauth_error = oauth_error


class TokenRefreshTooSoon(UpstreamError):
    """Raised when a new token is needed within the minimum refresh interval (Cerner: once a
    minute); ``retry_after`` says when one may be requested."""

    code = "source.fhir_token_rate"


class CircuitOpen(UpstreamError):
    """Raised instead of sending a request while the instance's circuit breaker is open."""

    code = "source.fhir_circuit_open"


class BudgetExhausted(UpstreamError):
    """Raised instead of sending a request when the instance's request budget is spent."""

    code = "source.fhir_budget"
