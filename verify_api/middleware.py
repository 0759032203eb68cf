"""One ASGI middleware for every request: request id in and out, body size limit, metrics, a JSON access log line.

Pure ASGI (no `BaseHTTPMiddleware`): it adds no task or stream copy per request. The body limit reads at most
`limit + 1` bytes before the app sees anything, so an oversized upload is refused with a 413 problem without being
parsed; a declared `Content-Length` over the limit is refused before a byte is read. The access log never records
the query string (a holder's ID number can be a query parameter) nor any header but the request id.

Under `serve` (`configure_logging`) the access line leaves the request path as one tuple on a queue: a writer thread
makes the log record, formats the JSON and writes whole batches to stderr (`BufferedAccessLog`; measured in
docs/BENCHMARKS.md). An app a test builds logs each line at once, in the request.
"""

from __future__ import annotations

import atexit
import json
import logging
import queue
import re
import sys
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import IO, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from verify_api.immutable import answer_from_memory
from verify_api.metrics import Metrics
from verify_api.problems import PAYLOAD_TOO_LARGE, problem_response

access_log = logging.getLogger("verify_api.access")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
DEFAULT_BODY_LIMIT = 64 * 1024
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, and every `extra` field of the record."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        doc.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False, default=str)


class BatchingHandler(logging.Handler):
    """A handler that only queues records; a daemon thread formats them and writes each batch with one write.

    Formatting JSON and writing to a pipe cost more than the rest of a cached request; here they happen beside the
    event loop, and a burst of lines costs one system call. `close` (logging's shutdown at exit) drains the queue.
    """

    BATCH = 512

    def __init__(self, stream: IO[str]) -> None:
        super().__init__()
        self.stream = stream
        # A record to write, an Event to set once everything queued before it is written (flush), None to stop.
        self._queue: queue.SimpleQueue[logging.LogRecord | threading.Event | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._drain, name="log-writer", daemon=True)
        self._writer.start()

    def emit(self, record: logging.LogRecord) -> None:
        self._queue.put(record)

    def _drain(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            records = [r for r in batch if isinstance(r, logging.LogRecord)]
            if records:
                try:
                    self.stream.write("".join(self.format(r) + "\n" for r in records))
                    self.stream.flush()
                except Exception:  # a broken stderr must not kill the writer (logging's own policy)
                    self.handleError(records[0])
            for item in batch:
                if isinstance(item, threading.Event):
                    item.set()
            if None in batch:
                return

    def flush(self) -> None:
        """Wait (up to 5 s) until every record queued so far is written."""
        if self._writer.is_alive():
            written = threading.Event()
            self._queue.put(written)
            written.wait(timeout=5)

    def close(self) -> None:
        if self._writer.is_alive():
            self._queue.put(None)
            self._writer.join(timeout=5)
        super().close()


class BufferedAccessLog:
    """The access line as a tuple on a queue; the log record is made on the writer thread, not in the request.

    Making a `LogRecord` (stack walk for the caller, thread and process names) costs tens of microseconds: the request
    pays for one `queue.put`. The record's `created` time is the writer's, normally within a millisecond of the
    response; `duration_ms` is measured in the request.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._queue: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._drain, name="access-log", daemon=True)
        self._writer.start()
        atexit.register(self.close)

    def __call__(self, fields: dict[str, Any]) -> None:
        self._queue.put(fields)

    def _drain(self) -> None:
        while (fields := self._queue.get()) is not None:
            self._logger.info("request", extra=fields)

    def close(self) -> None:
        """Log what is queued, then stop the writer (at exit)."""
        if self._writer.is_alive():
            self._queue.put(None)
            self._writer.join(timeout=5)


def _log_now(fields: dict[str, Any]) -> None:
    access_log.info("request", extra=fields)


_access: Callable[[dict[str, Any]], None] = _log_now  # where each access line goes (configure_logging changes it)


def configure_logging(level: int = logging.INFO) -> None:
    """Send `verify_api` and `trustledger` logs (requests, and the background workers' failures with their tracebacks)
    to stderr as JSON lines through a batching writer thread (once), take the access line off the request path, and
    quiet uvicorn's own plain-text access log."""
    global _access
    for name in ("verify_api", "trustledger"):
        logger = logging.getLogger(name)
        if not any(getattr(h, "_trustledger", False) for h in logger.handlers):
            handler = BatchingHandler(sys.stderr)
            handler.setFormatter(JsonFormatter())
            handler._trustledger = True  # type: ignore[attr-defined]
            logger.addHandler(handler)
            logger.propagate = False
        logger.setLevel(level)
    if _access is _log_now:
        _access = BufferedAccessLog(access_log)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)  # our access line replaces it


def request_id_of(scope: Scope) -> str | None:
    """The request id the middleware gave this request."""
    state: Mapping[str, Any] = scope.get("state") or {}
    rid = state.get("request_id")
    return rid if isinstance(rid, str) else None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class RequestMiddleware:
    """Request ids, the body limit, metrics and the access log around the whole app.

    `clock` is monotonic seconds for request durations: the app hands in its region clock's `monotonic`.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        body_limits: Mapping[str, int] | None = None,
        default_body_limit: int = DEFAULT_BODY_LIMIT,
        clock: Callable[[], float],
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.body_limits = dict(body_limits or {})
        self.default_body_limit = default_body_limit
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = self.clock()
        incoming = _header(scope, b"x-request-id")
        rid = incoming if incoming and _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        rid_header = (b"x-request-id", rid.encode())
        head = scope["method"] == "HEAD"
        if head or scope["method"] == "GET":  # an immutable resource held in memory: answered before routing
            answered = await answer_from_memory(scope, send, rid_header)
            if answered is not None:
                self._record(scope, rid, answered[1], self.clock() - started, scope["method"], answered[0])
                return
        if head:  # RFC 9110 §9.3.2: HEAD is GET without the body, for every GET route (tiles, trust lists, pages)
            scope = {**scope, "method": "GET"}
        scope.setdefault("state", {})["request_id"] = rid
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), rid_header]
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}  # GET's headers (its Content-Length too), no content
            await send(message)

        try:
            limit = self.body_limits.get(scope["path"], self.default_body_limit)
            body = await self._read_body(scope, receive, limit)
            if body is None:
                await self._too_large(scope, receive, send_with_id, limit)
                return
            await self.app(scope, _replay(body, receive), send_with_id)
        finally:
            self._record(scope, rid, status, self.clock() - started, "HEAD" if head else None)

    async def _read_body(self, scope: Scope, receive: Receive, limit: int) -> bytes | None:
        """The whole body, or None when it exceeds `limit` (declared or actual)."""
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return None
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break  # disconnect: hand the app what we have; it will see the disconnect next
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = problem_response(
            PAYLOAD_TOO_LARGE,
            f"the request body exceeds {limit} bytes",
            headers={"Connection": "close"},
            instance=scope["path"],
            request_id=request_id_of(scope),
            limit=limit,
        )
        await response(scope, receive, send)

    def _record(
        self,
        scope: Scope,
        rid: str,
        status: int,
        seconds: float,
        method_as_sent: str | None = None,
        template: str | None = None,
    ) -> None:
        template = template or getattr(scope.get("route"), "path", None) or "<unmatched>"
        method = method_as_sent or scope.get("method", "?")
        self.metrics.observe(method, template, status, seconds)
        principal = (scope.get("state") or {}).get("principal")
        client = scope.get("client")
        _access(
            {
                "request_id": rid,
                "method": method,
                "path": scope.get("path"),
                "route": template,
                "status": status,
                "duration_ms": round(seconds * 1000, 3),
                "client": client[0] if client else None,
                "role": getattr(getattr(principal, "role", None), "value", None),
                "key_id": getattr(principal, "key_id", None),
            }
        )


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that yields the buffered body once, then passes through (disconnects)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
