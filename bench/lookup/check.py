#!/usr/bin/env python3
"""Answer checks for bench/lookup.sh, run before the load (standard library only).

  check.py calgate PORT TOKEN MIX N OUT_BODY  [TIME_MIN TIME_MAX]
      POSTs the first N requests of the mix to calgate's /calendar/v3/freeBusy over one
      keep-alive connection; fails unless every answer is 200, application/json,
      kind calendar#freeBusy, with exactly the asked calendars, each with a "busy"
      list and no "errors". Prints "size MEAN MIN MAX periods P" and writes to OUT_BODY
      the real answer closest to the mean size, padded with spaces to exactly the mean
      (nginx serves it), and OUT_BODY.json with each user's busy periods.
  check.py davmail PORT BASIC ORGANIZER MIX N OUT_JSON  [ICAL_START ICAL_END]
      POSTs one CalDAV free/busy request per user for the users of the first N requests;
      fails unless each answer is 200 with "2.0;Success" and a VFREEBUSY for the user.
      Writes each user's FREEBUSY periods to OUT_JSON.
  check.py compare CALGATE_JSON DAVMAIL_JSON
      Compares the two views of the same users (DavMail reads 15-minute MergedFreeBusy
      slots, calgate exact periods): prints agreement; never fails the run.
"""
import datetime as dt
import http.client
import json
import sys


def die(msg):
    sys.stderr.write("check.py: %s\n" % msg)
    sys.exit(1)


def read_mix(path, n):
    out = []
    with open(path) as f:
        for line in f:
            if len(out) >= n:
                break
            out.append([int(x) for x in line.split()])
    return out


def address(n):
    return "user%05d@corp.example" % n


def calgate(port, token, mix, n, out_body, time_min="2031-05-12T00:00:00Z", time_max="2031-05-19T00:00:00Z"):
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
    sizes, bodies, periods, busy = [], [], 0, {}
    for users in read_mix(mix, int(n)):
        ids = [address(u) for u in users]
        req = json.dumps({"timeMin": time_min, "timeMax": time_max, "items": [{"id": i} for i in ids]},
                         separators=(",", ":"))
        conn.request("POST", "/calendar/v3/freeBusy", body=req,
                     headers={"Content-Type": "application/json", "Authorization": "Bearer " + token})
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            die("calgate answered %d to %s: %s" % (r.status, req, body[:500]))
        if not (r.getheader("Content-Type") or "").startswith("application/json"):
            die("calgate answered Content-Type %r" % r.getheader("Content-Type"))
        if (r.getheader("Connection") or "").lower() == "close":
            die("calgate closes the connection after a freeBusy answer (no keep-alive)")
        try:
            doc = json.loads(body)
        except ValueError as e:
            die("calgate's answer is not JSON (%s): %s" % (e, body[:500]))
        if doc.get("kind") != "calendar#freeBusy":
            die("kind is %r, not calendar#freeBusy: %s" % (doc.get("kind"), body[:500]))
        cals = doc.get("calendars", {})
        if sorted(cals) != sorted(ids):
            die("asked for %s, got calendars %s" % (ids, sorted(cals)))
        for i in ids:
            c = cals[i]
            if c.get("errors"):
                die("calendar %s has errors: %s" % (i, c["errors"]))
            if not isinstance(c.get("busy"), list):
                die("calendar %s has no busy list: %s" % (i, c))
            periods += len(c["busy"])
            busy[i] = [(p["start"], p["end"]) for p in c["busy"]]
        sizes.append(len(body))
        bodies.append(body)
    conn.close()
    mean = round(sum(sizes) / len(sizes))
    best = min(bodies, key=lambda b: (abs(len(b) - mean), b))
    if len(best) > mean:  # cannot shorten valid JSON: take the largest one not above the mean
        best = max((b for b in bodies if len(b) <= mean), key=len, default=best)
    padded = best + b" " * max(0, mean - len(best))
    if b"'" in padded or b"$" in padded or b"\\" in padded:
        die("the representative answer has characters nginx's return string cannot hold as is")
    open(out_body, "wb").write(padded)
    json.dump(busy, open(out_body + ".json", "w"))
    print("size %d %d %d periods %d" % (mean, min(sizes), max(sizes), periods))
    if periods == 0:
        die("no busy period in %d answers: the simulator's generated calendars should have some" % len(sizes))


def unfold(text):
    for fold in ("\r\n ", "\n ", "\r\n\t", "\n\t"):
        text = text.replace(fold, "")
    return text


def davmail(port, basic, organizer, mix, n, out_json, start="20310512T000000Z", end="20310519T000000Z"):
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=120)
    seen, result = set(), {}
    for users in read_mix(mix, int(n)):
        for u in users:
            if u in seen:
                continue
            seen.add(u)
            a = address(u)
            body = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calgate//bench lookup//EN\r\nMETHOD:REQUEST\r\n"
                    "BEGIN:VFREEBUSY\r\nUID:calgate-bench-check-%d\r\nDTSTAMP:20310501T000000Z\r\n"
                    "DTSTART:%s\r\nDTEND:%s\r\nORGANIZER:mailto:%s\r\nATTENDEE:mailto:%s\r\n"
                    "END:VFREEBUSY\r\nEND:VCALENDAR\r\n") % (u, start, end, organizer, a)
            conn.request("POST", "/users/%s/outbox/" % organizer, body=body.encode(),
                         headers={"Content-Type": "text/calendar; charset=utf-8", "Authorization": "Basic " + basic})
            r = conn.getresponse()
            text = unfold(r.read().decode("utf-8", "replace"))
            if r.status != 200 or "2.0;Success" not in text or "BEGIN:VFREEBUSY" not in text:
                die("DavMail answered %d for %s:\n%s" % (r.status, a, text[:2000]))
            if (r.getheader("Connection") or "").lower() == "close":
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=120)
            periods = []
            for line in text.splitlines():
                if line.startswith("FREEBUSY;FBTYPE="):
                    kind, _, ps = line[len("FREEBUSY;FBTYPE="):].partition(":")
                    periods += [(kind,) + tuple(p.split("/")) for p in ps.split(",")]
            result[a] = periods
    conn.close()
    json.dump(result, open(out_json, "w"))
    print("davmail users %d periods %d" % (len(result), sum(len(p) for p in result.values())))


def compare(calgate_json, davmail_json):
    cg, dm = json.load(open(calgate_json)), json.load(open(davmail_json))

    def t(s):
        s = s.replace("Z", "+00:00")
        if "-" not in s[:8]:  # iCalendar 20310512T090000Z
            return dt.datetime.strptime(s[:15], "%Y%m%dT%H%M%S").replace(tzinfo=dt.timezone.utc)
        return dt.datetime.fromisoformat(s)

    def slots(a, b):
        t0 = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
        s, e = t(a), t(b)
        i = int((s - t0).total_seconds() // 900)
        j = -int(-(e - t0).total_seconds() // 900)
        return set(range(i, j))

    users = sorted(set(cg) & set(dm))
    agree, strict_miss, extra = 0, [], []
    for u in users:
        mine = set()
        for a, b in cg[u]:
            mine |= slots(a, b)
        hard, any_busy = set(), set()
        for kind, a, b in dm[u]:
            s = slots(a, b)
            any_busy |= s
            if kind in ("BUSY", "BUSY-UNAVAILABLE"):
                hard |= s
        ok = True
        if not hard <= mine:
            strict_miss.append(u)
            ok = False
        if not mine <= any_busy:
            extra.append(u)
            ok = False
        agree += ok
    print("cross-check calgate vs DavMail (15-minute slots) for %d users: %d agree%s%s" % (
        len(users), agree,
        "; calgate lacks DavMail's BUSY/OOF slots for %s" % strict_miss[:5] if strict_miss else "",
        "; calgate has busy slots DavMail shows free for %s" % extra[:5] if extra else ""))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    {"calgate": calgate, "davmail": davmail, "compare": compare}.get(sys.argv[1], lambda *a: sys.exit(__doc__))(
        *sys.argv[2:])
