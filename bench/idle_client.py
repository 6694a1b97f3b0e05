#!/usr/bin/env python3
"""Opens N keep-alive HTTP/1.1 connections, sends one GET on each, checks the
answer, then keeps every connection open and idle until SIGTERM/SIGINT.

usage: idle_client.py HOST PORT N READY_FILE [PATH] [EXPECTED_BODY]

When all N connections have been answered it writes "ok N SECONDS" to READY_FILE
(via a rename, so a reader never sees half a line). Any failure (connect error,
non-200 status, unexpected body, connection closed by the server) is printed to
stderr and the process exits with status 1 instead. Standard library only.
"""
import asyncio
import os
import signal
import sys
import time

CONNECT_CONCURRENCY = 256  # connects in flight at once (stay well under the listen backlog)


async def one(host, port, request, expected_body, sem, conns):
    async with sem:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = lines[0].split(" ", 2)
        if len(status) < 2 or status[1] != "200":
            raise RuntimeError("unexpected status line: %r" % lines[0])
        length = None
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
            if name.strip().lower() == "connection" and value.strip().lower() == "close":
                raise RuntimeError("server answered Connection: close")
        if length is None:
            raise RuntimeError("no Content-Length in %r" % head)
        body = await reader.readexactly(length)
        if expected_body is not None and body != expected_body:
            raise RuntimeError("unexpected body %r" % body)
        conns.append((reader, writer))


async def main():
    if len(sys.argv) < 5:
        sys.stderr.write(__doc__)
        return 2
    host, port, n, ready_file = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    path = sys.argv[5] if len(sys.argv) > 5 else "/healthz"
    expected = sys.argv[6].encode() if len(sys.argv) > 6 else None
    request = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: calgate-bench-idle\r\n\r\n" % (path, host, port)).encode()

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    sem = asyncio.Semaphore(CONNECT_CONCURRENCY)
    conns = []
    t0 = time.monotonic()
    results = await asyncio.gather(*(one(host, port, request, expected, sem, conns) for _ in range(n)),
                                   return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        kinds = {}
        for e in errors:
            kinds[repr(e)[:200]] = kinds.get(repr(e)[:200], 0) + 1
        for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]):
            sys.stderr.write("idle_client: %d x %s\n" % (v, k))
        sys.stderr.write("idle_client: %d of %d connections failed\n" % (len(errors), n))
        return 1
    elapsed = time.monotonic() - t0
    tmp = ready_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("ok %d %.2f\n" % (len(conns), elapsed))
    os.rename(tmp, ready_file)

    # Idle: wait for the signal, but notice a server closing connections on us.
    async def watch(reader):
        data = await reader.read(1)
        return data

    watchers = [asyncio.ensure_future(watch(r)) for r, _ in conns]
    stopper = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait(watchers + [stopper], return_when=asyncio.FIRST_COMPLETED)
    code = 0
    if stopper not in done:
        closed = sum(1 for w in watchers if w.done())
        sys.stderr.write("idle_client: the server closed or wrote on %d idle connection(s)\n" % closed)
        code = 1
    for w in watchers:
        w.cancel()
    for _, writer in conns:
        writer.close()
    return code


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
