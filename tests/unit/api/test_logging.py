"""configure_logging: APScheduler's per-run INFO lines are quiet unless the level is DEBUG (a real
``AsyncIOScheduler`` runs a job; its lines are looked for in what the installed handler wrote)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from api.logging import JsonFormatter, configure_logging, log_fast


@pytest.fixture
def restore_root() -> Iterator[None]:
    """configure_logging replaces the root logger's handlers: put them back afterwards."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    chatty = logging.getLogger("apscheduler")
    saved_chatty = chatty.level
    try:
        yield
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
        chatty.setLevel(saved_chatty)


async def run_one_job() -> None:
    done = asyncio.Event()
    scheduler = AsyncIOScheduler()
    scheduler.add_job(done.set, "date", id="one-shot")
    scheduler.start()
    try:
        async with asyncio.timeout(10):
            await done.wait()
        await asyncio.sleep(0.05)  # the executor logs "executed successfully" after the job returns
    finally:
        scheduler.shutdown(wait=False)


def apscheduler_lines(text: str) -> list[dict[str, str]]:
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [line for line in lines if line["logger"].startswith("apscheduler")]


async def test_apscheduler_run_lines_are_quiet_at_info(
    restore_root: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", "json")  # its handler writes to sys.stderr, captured here
    await run_one_job()
    logging.getLogger("engine.scheduler").info("our own line")
    err = capsys.readouterr().err
    assert apscheduler_lines(err) == []
    assert "our own line" in err


async def test_apscheduler_run_lines_show_at_debug(
    restore_root: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", "json")
    configure_logging("DEBUG", "json")  # re-configuring lowers it again
    await run_one_job()
    messages = [line["msg"] for line in apscheduler_lines(capsys.readouterr().err)]
    assert any("Running job" in m for m in messages), messages


def test_log_fast_builds_the_record_makerecord_would() -> None:
    """log_fast copies most record attributes from a per-logger template: the record a handler gets has
    the same attributes and values as ``makeRecord``'s (times aside), extra fields included."""
    logger = logging.getLogger("tests.log_fast")
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler = Keep()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # no other handler formats (and so changes) the records
    try:
        extra = {"method": "GET", "status": 200, "api_key": "k"}
        for _ in range(2):  # the first call builds the template, the second uses it
            log_fast(logger, logging.INFO, "request", extra)
        log_fast(logger, logging.DEBUG, "filtered", extra)  # below the level: no record
        with pytest.raises(KeyError):
            log_fast(logger, logging.INFO, "request", {"message": "clash"})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
        logger.propagate = True
    assert len(seen) == 2
    expected = vars(logger.makeRecord(logger.name, logging.INFO, "", 0, "request", (), None, extra=extra))
    for record in seen:
        got = vars(record)
        assert got.keys() == expected.keys()
        times = {"created", "msecs", "relativeCreated"}
        assert {k: v for k, v in got.items() if k not in times} == {
            k: v for k, v in expected.items() if k not in times
        }
        assert abs(got["created"] - expected["created"]) < 60
        assert abs(got["relativeCreated"] - expected["relativeCreated"]) < 60_000
        line = json.loads(JsonFormatter().format(record))
        assert line["status"] == 200 and line["api_key"] == "[redacted]"
