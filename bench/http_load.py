"""A cheap HTTP/1.1 load generator: many keep-alive clients in one asyncio thread.

Fifty Python threads each driving an ``httpx.Client`` cost about 2 ms of CPU per request
on the 2-core benchmark machine — as much as the server under test — so the load
generator took a core away from what it measured. Here each client is one keep-alive
connection on one event loop, sending a request prepared once as bytes and reading the
answer by its ``Content-Length``: a few tens of microseconds per request. Latency is per
request, from the write to the last byte of the body, as each client sees it.

``every_s`` 0 is a closed loop (each client calls again as soon as it has its answer:
latency = clients / throughput); otherwise each client calls once every ``every_s``
seconds (random phase), the way polling systems do.

Example:
    >>> req = request_bytes("GET", "/healthz", host="127.0.0.1:8080")
    >>> res = run_load("127.0.0.1", 8080, req, clients=50, calls=20)  # doctest: +SKIP
    >>> res.errors, len(res.latencies_s)                               # doctest: +SKIP
    ([], 1000)
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    """Per-request latencies (seconds), the first errors, and the wall time of the run."""

    latencies_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0


def request_bytes(
    method: str,
    target: str,
    *,
    host: str,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
) -> bytes:
    """One HTTP/1.1 request, ready to send again and again on a keep-alive connection."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _call(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, req: bytes) -> int:
    writer.write(req)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = -1
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        lname = name.strip().lower()
        if lname == b"content-length":
            length = int(value)
        elif lname == b"transfer-encoding":
            raise ValueError("chunked answers are not supported by this load generator")
    if length < 0:
        raise ValueError(f"answer {status} without Content-Length")
    await reader.readexactly(length)
    return status


async def _client(
    host: str,
    port: int,
    req: bytes,
    calls: int,
    every_s: float,
    start: asyncio.Event,
    ready: list[int],
    out: LoadResult,
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        await _call(reader, writer, req)  # connect and warm up outside the measurement
        ready.append(1)
        await start.wait()
        loop = asyncio.get_running_loop()
        due = loop.time() + random.uniform(0, every_s)
        mine: list[float] = []
        for _ in range(calls):
            if every_s:
                await asyncio.sleep(max(0.0, due - loop.time()))
                due += every_s
            t0 = time.perf_counter()
            status = await _call(reader, writer, req)
            mine.append(time.perf_counter() - t0)
            if status != 200 and len(out.errors) < 10:
                out.errors.append(f"HTTP {status}")
        out.latencies_s.extend(mine)
    finally:
        writer.close()


async def _run(
    host: str, port: int, req: bytes, clients: int, calls: int, every_s: float
) -> LoadResult:
    out = LoadResult()
    start = asyncio.Event()
    ready: list[int] = []
    tasks = [
        asyncio.create_task(_client(host, port, req, calls, every_s, start, ready, out))
        for _ in range(clients)
    ]
    while len(ready) < clients:  # every connection open and warm
        done = [t for t in tasks if t.done()]
        for t in done:
            t.result()  # a client that failed to connect raises here
        await asyncio.sleep(0.01)
    t0 = time.perf_counter()
    start.set()
    await asyncio.gather(*tasks)
    out.wall_s = time.perf_counter() - t0
    return out


def run_load(
    host: str, port: int, req: bytes, *, clients: int, calls: int, every_s: float = 0.0
) -> LoadResult:
    """``calls`` requests from each of ``clients`` keep-alive connections at once.

    The clients' event loop runs in a thread of its own: the caller's thread may hold a
    running loop already (Playwright's sync API keeps one in the test session's main
    thread once a browser test has run), where ``asyncio.run`` refuses to start.
    """
    with ThreadPoolExecutor(1, thread_name_prefix="http-load") as pool:
        return pool.submit(asyncio.run, _run(host, port, req, clients, calls, every_s)).result()
