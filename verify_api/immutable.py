"""Immutable resources (full tiles, entry bundles, leaves, published trust list versions) served from memory.

What the log has published under one name never changes (RFC 9162 §2.1, C2SP tlog-tiles: a full tile's hashes are
fixed once the tree covers it), so each process keeps the most recently used bodies in a bounded LRU and answers
with a strong `ETag`, `Cache-Control: public, max-age=31536000, immutable`, a 304 to a matching `If-None-Match`, and
HEAD. Partial tiles (`.p/W`) are replaced by the full tile once it exists: they get a strong ETag and a short max-age,
and are not kept here. An error (a tile beyond the tree, a version not yet published) is never cached.

Entries are keyed by the canonical request path (`/tile/0/x001/234`), stored by the route once it has parsed and
served that exact spelling. `RequestMiddleware` answers a request whose raw path is such a key before routing
(`answer_from_memory`): a hit costs no routing, no dependency solving and no thread-pool hop. Any other spelling
misses and reaches the route, which refuses it as before.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope, Send

IMMUTABLE = "public, max-age=31536000, immutable"
PARTIAL = "public, max-age=60"  # a partial tile is superseded by its full tile; a CDN should revalidate soon
MAX_ENTRIES = 100_000
MAX_BYTES = 64 * 1024 * 1024  # a full hash tile is 8 KiB; this holds ~8,000 of them per process


@dataclass(frozen=True)
class Body:
    """One response body with its strong entity tag (RFC 9110 §8.8.3), media type, caching and extra headers, and
    the route template it is counted under in /metrics."""

    data: bytes
    etag: str
    media_type: str
    cache_control: str = IMMUTABLE
    headers: tuple[tuple[str, str], ...] = ()
    route: str = "<memory>"

    @classmethod
    def of(cls, data: bytes, media_type: str, cache_control: str = IMMUTABLE, route: str = "<memory>") -> Body:
        """The body with its ETag: the quoted hex SHA-256 of the bytes."""
        return cls(data, f'"{hashlib.sha256(data).hexdigest()}"', media_type, cache_control, route=route)

    def raw_headers(self, *, with_content: bool) -> list[tuple[bytes, bytes]]:
        """The header lines of a 200 (`with_content`) or of a 304, as ASGI wants them."""
        lines = [("cache-control", self.cache_control), ("etag", self.etag), *self.headers]
        if with_content:
            lines += [("content-type", self.media_type), ("content-length", str(len(self.data)))]
        return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in lines]


class ImmutableCache:
    """A bounded, thread-safe LRU of bodies by canonical path (the sync routes run in a thread pool).

    Bounded twice: by entries and by the bytes held, so a crawler walking every leaf cannot grow the process.
    """

    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("an immutable cache needs room for at least one entry and one byte")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._items: OrderedDict[bytes, Body] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def peek(self, key: bytes) -> Body | None:
        """The body under `key` if held (a hit, made most recent), else None; never reads the store."""
        with self._lock:
            body = self._items.get(key)
            if body is not None:
                self._items.move_to_end(key)
                self.hits += 1
            return body

    def get(self, key: bytes, produce: Callable[[], Body]) -> Body:
        """The body under `key`, made by `produce` on a miss (outside the lock: a read may take milliseconds)."""
        body = self.peek(key)
        if body is not None:
            return body
        with self._lock:
            self.misses += 1
        body = produce()  # raises on a missing resource: nothing is stored
        self._put(key, body)
        return body

    def _put(self, key: bytes, body: Body) -> None:
        if len(body.data) > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            self._bytes -= len(old.data) if old is not None else 0
            self._items[key] = body
            self._bytes += len(body.data)
            while len(self._items) > self.max_entries or self._bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped.data)

    def __contains__(self, key: bytes) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    @property
    def size_bytes(self) -> int:
        """Bytes of the bodies held now."""
        return self._bytes


def cache_of(request: Request) -> ImmutableCache:
    """The app's immutable cache (one per app, so per worker process), made on first use."""
    state = request.app.state
    cache: ImmutableCache | None = getattr(state, "immutable_cache", None)
    if cache is None:
        cache = state.immutable_cache = ImmutableCache()
    return cache


async def remembered(request: Request, canonical: str, produce: Callable[[], Body]) -> Body:
    """The body of an immutable resource under its canonical path: from memory, else made by `produce` in the
    thread pool (it reads the store) and kept."""
    cache, key = cache_of(request), canonical.encode("ascii")
    body = cache.peek(key)
    if body is None:
        body = await run_in_threadpool(cache.get, key, produce)
    return body


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """Whether `If-None-Match` names `etag` or is `*` (RFC 9110 §13.1.2: weak comparison, `W/` ignored)."""
    if if_none_match is None:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in tags or "*" in tags


def respond(request: Request, body: Body) -> Response:
    """200 with the body, or 304 with the same validators when the client already holds it."""
    headers: Mapping[str, str] = {"Cache-Control": body.cache_control, "ETag": body.etag, **dict(body.headers)}
    if not_modified(request.headers.get("if-none-match"), body.etag):
        return Response(status_code=304, headers=headers)
    return Response(body.data, media_type=body.media_type, headers=headers)


async def answer_from_memory(scope: Scope, send: Send, extra: tuple[bytes, bytes]) -> tuple[str, int] | None:
    """Answer a GET or HEAD whose raw path is held, before routing: 200 or 304, plus `extra` (the request id) as a
    header. (route template, status) when answered; None, with nothing sent, when the path is not held."""
    state = getattr(scope.get("app"), "state", None)
    cache: ImmutableCache | None = getattr(state, "immutable_cache", None)
    if cache is None or scope.get("query_string"):
        return None  # a query string is for the route to judge
    body = cache.peek(scope.get("raw_path") or str(scope["path"]).encode())
    if body is None:
        return None
    wanted = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"if-none-match"), None)
    fresh = not not_modified(wanted, body.etag)
    headers = [*body.raw_headers(with_content=fresh), extra]
    await send({"type": "http.response.start", "status": 200 if fresh else 304, "headers": headers})
    content = body.data if fresh and scope["method"] == "GET" else b""
    await send({"type": "http.response.body", "body": content, "more_body": False})
    return body.route, 200 if fresh else 304
