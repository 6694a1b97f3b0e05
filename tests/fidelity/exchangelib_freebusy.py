#!/usr/bin/python3
"""Free/busy through exchangelib (Debian python3-exchangelib 4.9.0), for the fidelity test.

Asks an EWS endpoint (no Autodiscover) for free/busy of the given mailboxes with
account.protocol.get_free_busy_info(...) and prints one JSON document on stdout:

  {"ok": true, "version": {...}, "auth_type": "...",
   "mailboxes": [{"address": "...", "error": null | {"type": "...", "message": "..."},
                  "view_type": "...", "merged": "..." | null,
                  "events": [{"start": "...Z", "end": "...Z", "naive": bool, "busy_type": "...",
                              "details": null | {"id", "subject", "location", "is_meeting",
                                                 "is_recurring", "is_exception",
                                                 "is_reminder_set", "is_private"}}],
                  "working_hours": [{"weekdays": [...], "start": "HH:MM", "end": "HH:MM"}]}]}

or {"ok": false, "exception": "...", "message": "..."} with exit status 1 (a per-mailbox
error other than ErrorMailRecipientNotFound is raised by exchangelib 4.9.0, so it ends
up here). With --out FILE the document goes to FILE; stderr gets tracebacks and logs.
Event times are converted to UTC; offset-less ("naive") times are taken as wall-clock
times in --tz, the zone of the request window (that is what EWS means by them).

Run it with /usr/bin/python3: a pyenv python3 does not see the Debian module.
"""
import argparse
import datetime
import json
import logging
import os
import sys
import traceback
import zoneinfo

# Loopback only: never go through a proxy from the environment.
for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
    os.environ.pop(var, None)

import requests.adapters  # noqa: E402
from exchangelib import BASIC, DELEGATE, NTLM, Account, Configuration, Credentials, EWSTimeZone  # noqa: E402
from exchangelib.fields import WEEKDAY_NAMES  # noqa: E402
from exchangelib.protocol import BaseProtocol  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoint", required=True, help="EWS URL, e.g. http://127.0.0.1:8080/EWS/Exchange.asmx")
    p.add_argument("--auth", choices=["basic", "ntlm"], required=True)
    p.add_argument("--user", required=True, help="login: an e-mail address or DOMAIN\\user")
    p.add_argument("--password", required=True)
    p.add_argument("--account", required=True, help="the caller's own mailbox (Account primary address)")
    p.add_argument("--start", required=True, help="window start, ISO 8601 wall clock in --tz (2026-11-23T00:00:00)")
    p.add_argument("--end", required=True, help="window end, same format")
    p.add_argument("--tz", default="UTC", help="IANA zone of the window (default UTC)")
    p.add_argument("--interval", type=int, default=30, help="MergedFreeBusyIntervalInMinutes")
    p.add_argument("--view", default="DetailedMerged", help="RequestedView")
    p.add_argument("--ca", help="PEM file of the CA that signed the server certificate (https)")
    p.add_argument("--timeout", type=float, default=15.0, help="per-request timeout, seconds")
    p.add_argument("--out", help="write the JSON document to this file instead of stdout")
    p.add_argument("--debug", action="store_true", help="exchangelib debug log on stderr")
    p.add_argument("mailboxes", nargs="+", help="addresses to ask for")
    return p.parse_args()


def utc_text(value, tz):
    if value is None:
        return None, False
    naive = value.tzinfo is None
    # A plain datetime: EWSDateTime.astimezone() insists on EWSTimeZone targets.
    plain = datetime.datetime(value.year, value.month, value.day, value.hour, value.minute, value.second,
                              tzinfo=tz if naive else value.tzinfo)
    return plain.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), naive


def main():
    args = parse_args()
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.ERROR, stream=sys.stderr)

    BaseProtocol.TIMEOUT = args.timeout
    if args.ca:
        ca = args.ca

        # The adapter recipe from exchangelib's documentation: verify against our own CA.
        class TestCAAdapter(requests.adapters.HTTPAdapter):
            def cert_verify(self, conn, url, verify, cert):
                super().cert_verify(conn=conn, url=url, verify=ca, cert=cert)

        BaseProtocol.HTTP_ADAPTER_CLS = TestCAAdapter

    tz = EWSTimeZone.from_zoneinfo(zoneinfo.ZoneInfo(args.tz)) if args.tz != "UTC" else EWSTimeZone("UTC")
    start = datetime.datetime.fromisoformat(args.start).replace(tzinfo=tz)
    end = datetime.datetime.fromisoformat(args.end).replace(tzinfo=tz)

    creds = Credentials(args.user, args.password)
    # No version: exchangelib probes the server's version (ConvertId, newest first).
    config = Configuration(service_endpoint=args.endpoint, credentials=creds,
                           auth_type=BASIC if args.auth == "basic" else NTLM)
    account = Account(args.account, credentials=creds, config=config, autodiscover=False, access_type=DELEGATE)

    views = account.protocol.get_free_busy_info(
        accounts=[(address, "Required", False) for address in args.mailboxes],
        start=start, end=end, merged_free_busy_interval=args.interval, requested_view=args.view)

    out = []
    for address, view in zip(args.mailboxes, views):
        entry = {"address": address, "error": None, "view_type": None, "merged": None, "events": [],
                 "working_hours": []}
        if isinstance(view, Exception):
            entry["error"] = {"type": type(view).__name__, "message": str(view)}
            out.append(entry)
            continue
        entry["view_type"] = view.view_type
        entry["merged"] = view.merged
        for ev in view.calendar_events or []:
            s, s_naive = utc_text(ev.start, tz)
            e, e_naive = utc_text(ev.end, tz)
            d = None
            if ev.details is not None:
                d = {k: getattr(ev.details, k) for k in ("id", "subject", "location", "is_meeting", "is_recurring",
                                                         "is_exception", "is_reminder_set", "is_private")}
            entry["events"].append({"start": s, "end": e, "naive": s_naive or e_naive, "busy_type": ev.busy_type,
                                    "details": d})
        for wp in view.working_hours or []:
            entry["working_hours"].append({"weekdays": [WEEKDAY_NAMES[w - 1] for w in wp.weekdays],
                                           "start": wp.start.strftime("%H:%M"), "end": wp.end.strftime("%H:%M")})
        out.append(entry)

    version = account.protocol.version
    doc = {"ok": True, "auth_type": account.protocol.auth_type,
           "version": {"api": version.api_version, "build": str(version.build)}, "mailboxes": out}
    emit(doc, args.out)
    return 0


def emit(doc, out):
    text = json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
    if out:
        with open(out, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    out_file = None
    if "--out" in sys.argv[1:-1]:
        out_file = sys.argv[sys.argv.index("--out", 1) + 1]
    try:
        sys.exit(main())
    except Exception as e:  # noqa: BLE001 - report everything as JSON
        traceback.print_exc(file=sys.stderr)
        emit({"ok": False, "exception": type(e).__name__, "message": str(e)}, out_file)
        sys.exit(1)
