#!/usr/bin/env python3
"""Parses one wrk run of bench/lookup.sh; prints "rps p50_us p99_us requests users".

Fails (exit 1, with wrk's output) on socket errors, non-2xx answers, or a missing
LOOKUP line (printed by the scripts' done()).
"""
import re
import sys

text = open(sys.argv[1]).read()


def fail(msg):
    sys.stderr.write("wrk output problem: %s\n---- wrk output ----\n%s" % (msg, text))
    sys.exit(1)


m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
if m and any(int(x) for x in m.groups()):
    fail("socket errors: " + m.group(0))
m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
if m and int(m.group(1)):
    fail(m.group(0))
m = re.search(r"Requests/sec:\s+([\d.]+)", text)
if not m:
    fail("no Requests/sec line")
rps = float(m.group(1))
m = re.search(r"^LOOKUP requests=(\d+) users=(\d+)$", text, re.M)
if not m:
    fail("no LOOKUP line (the script's done() did not run)")
reqs, users = int(m.group(1)), int(m.group(2))
if reqs == 0:
    fail("no requests completed")
unit = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6}


def pct(p):
    m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s|m)\s*$" % p, text, re.M)
    if not m:
        fail("no %s%% line in the latency distribution" % p)
    return float(m.group(1)) * unit[m.group(2)]


print("%.2f %.1f %.1f %d %d" % (rps, pct(50), pct(99), reqs, users))
