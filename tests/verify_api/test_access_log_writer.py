"""Under `serve` the access line leaves the request as a queued tuple and is written in batches by a thread: every
line still arrives, in order, as JSON, and closing drains what is queued (no line is lost at shutdown)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from verify_api.middleware import BatchingHandler, BufferedAccessLog, JsonFormatter


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    log = logging.getLogger("verify_api.test-writer")
    log.propagate, level = False, log.level
    log.setLevel(logging.INFO)
    yield log
    for handler in list(log.handlers):
        log.removeHandler(handler)
    log.setLevel(level)


def test_the_batching_handler_writes_every_line_in_order(logger: logging.Logger) -> None:
    stream = io.StringIO()
    handler = BatchingHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    for i in range(2000):  # more than one batch
        logger.info("request", extra={"n": i, "path": "/tile/0/000"})
    handler.close()  # drains the queue, then stops the writer
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["n"] for line in lines] == list(range(2000))
    assert {line["msg"] for line in lines} == {"request"} and lines[0]["path"] == "/tile/0/000"


def test_the_access_log_makes_its_records_off_the_request_path(logger: logging.Logger) -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger.addHandler(Keep())
    access = BufferedAccessLog(logger)
    for i in range(100):
        access({"request_id": f"r{i}", "status": 200})
    access.close()
    assert [r.__dict__["request_id"] for r in records] == [f"r{i}" for i in range(100)]
    assert {r.threadName for r in records} == {"access-log"} and {r.getMessage() for r in records} == {"request"}


def test_a_broken_stream_does_not_stop_the_writer(logger: logging.Logger, monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken(io.StringIO):
        fail = True

        def write(self, text: str) -> int:
            if self.fail:
                self.fail = False
                raise OSError("stderr closed")
            return super().write(text)

    monkeypatch.setattr(logging, "raiseExceptions", False)  # logging's production setting: report nothing
    stream = Broken()
    handler = BatchingHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.info("lost")
    handler.flush()  # returns once that line's write has failed
    logger.info("kept")
    handler.close()
    assert [json.loads(line)["msg"] for line in stream.getvalue().splitlines()] == ["kept"]
