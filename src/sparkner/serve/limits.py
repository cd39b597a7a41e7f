"""What the server lets one client take: body size, texts, characters, queue, time; each limit a
flag of `sparkner serve` (declared once here, with its default and help).

A request over a size limit gets 413 naming the limit; a full queue or a request that ran out of
time gets 503 with `Retry-After`. A client that sends its headers or its body too slowly is cut off
(`header_timeout`, `body_timeout`): it holds no more than a connection, and only that long.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, fields
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol


def limit(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = limit(1_000_000, "request bodies larger than this many bytes get 413")
    max_texts: int = limit(256, "requests with more texts in inputs get 413")
    max_text_chars: int = limit(100_000, "requests with a longer text get 413")
    max_queue_texts: int = limit(
        4_096, "texts waiting for the model at most; past it requests get 503 with Retry-After"
    )
    request_timeout: float = limit(60.0, "seconds a request may take; past it 503 with Retry-After")
    header_timeout: float = limit(
        10.0, "seconds a client has to send a request's headers; past it the connection closes"
    )
    body_timeout: float = limit(30.0, "seconds a client has to send a request's body; past it 408")
    max_parameter_sets: int = limit(16, "classifiers kept, one per set of request parameters seen")

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value <= 0:
                raise ValueError(f"--{name.replace('_', '-')} must be above 0, got {value}")


LIMIT_FIELDS = {f.name: f for f in fields(Limits)}


class LimitExceeded(Exception):
    """A request over a limit: its HTTP status and message."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status, self.retry_after = status, retry_after


async def read_body(receive_stream: Any, content_length: str | None, limits: Limits) -> bytes:
    """The request body, read as it arrives: refused at once when it says or grows too large (413), and
    given up when it takes longer than `body_timeout` (408)."""
    if content_length is not None and content_length.isdigit() and int(content_length) > limits.max_body_bytes:
        raise LimitExceeded(413, f"the request body is {content_length} bytes; the limit is {limits.max_body_bytes}")

    async def read() -> bytes:
        chunks, size = [], 0
        async for chunk in receive_stream:
            size += len(chunk)
            if size > limits.max_body_bytes:
                raise LimitExceeded(413, f"the request body is over the limit of {limits.max_body_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    try:
        return await asyncio.wait_for(read(), limits.body_timeout)
    except asyncio.TimeoutError:
        raise LimitExceeded(408, f"the request body took longer than {limits.body_timeout:g} s to arrive") from None


def check_inputs(texts: list[str], limits: Limits) -> None:
    if len(texts) > limits.max_texts:
        raise LimitExceeded(413, f"inputs holds {len(texts)} texts; the limit is {limits.max_texts} per request")
    longest = max((len(text) for text in texts), default=0)
    if longest > limits.max_text_chars:
        raise LimitExceeded(413, f"a text of {longest} characters; the limit is {limits.max_text_chars} per text")


def timed_protocol(header_timeout: float) -> type[H11Protocol]:
    """uvicorn's HTTP/1.1 protocol, closing a connection whose request headers do not arrive in time
    (a new connection, or a kept-alive one between requests): uvicorn itself waits for ever."""

    class HeaderTimeoutProtocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.cycle is not None and not self.cycle.response_complete:
                self._disarm()  # the headers are in: the request is the app's now

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._header_timer = self.loop.call_later(header_timeout, self._too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _too_slow(self) -> None:
            if not self.transport.is_closing():
                self.transport.close()

    return HeaderTimeoutProtocol
