"""Whether a download source answers at all, asked once and quickly before a transfer starts.

huggingface_hub retries a failed connection with back-off (about 23 s for a refused one) and a
host that accepts and never answers costs its timeout on every retry. Its retries help with a
transient 5xx during a transfer, not with a host that cannot be reached, so srzoo asks each host
once, with a short timeout and no retries, and reports an unreachable one in one line.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx2

from srzoo.errors import NetworkError

PROBE_TIMEOUT_S = 8.0


class Unreachable(NetworkError):
    """A download source gave no HTTP answer: refused, unknown host, timed out, or cut off."""


def host_of(url: str) -> str:
    """`scheme://host[:port]` of a URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def probe(url: str, what: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Return once `url`'s host answers an HTTP request (any status); raise `Unreachable` naming
    `what` and the reason when it gives no answer within `timeout` seconds."""
    try:
        httpx2.head(host_of(url) + "/", timeout=timeout, follow_redirects=False)
    except httpx2.TimeoutException as exc:
        raise Unreachable(f"{what} ({host_of(url)}) did not answer within {timeout:.0f} s") from exc
    except httpx2.HTTPError as exc:
        raise Unreachable(f"{what} ({host_of(url)}) cannot be reached: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    """The innermost one-line cause (e.g. "[Errno 111] Connection refused")."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
