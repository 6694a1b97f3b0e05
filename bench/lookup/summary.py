#!/usr/bin/env python3
"""The summary table of bench/lookup.sh.

usage: summary.py RESULTS SKIP_CALGATE CONNECTIONS
RESULTS: one line per wrk run:
  label target rps p50_us p99_us requests users server_cpu% upstream_cpu% wrk_cpu% core0% gua_delta ews_posts_delta
  others_cpu% (the other, idle servers on core 0)
Writes RESULTS.met: 1 if every goal was met, else 0.
"""
import statistics
import sys

GOAL_WARM_VS_NGINX = 0.75
GOAL_USERS_VS_DAVMAIL = 20.0
GOAL_EWS_PER_LOOKUP = 1.0

NAMES = {"nginx": "nginx (static)", "warm": "calgate warm", "cold": "calgate cold", "davmail": "DavMail CalDAV"}


def med(xs):
    return statistics.median(xs) if xs else float("nan")


rows = []
for line in open(sys.argv[1]):
    f = line.split()
    rows.append(dict(label=f[0], target=f[1], rps=float(f[2]), p50=float(f[3]), p99=float(f[4]), reqs=int(f[5]),
                     users=int(f[6]), srv=int(f[7]), up=int(f[8]), wrk=int(f[9]), core0=int(f[10]), gua=int(f[11]),
                     posts=int(f[12]), others=int(f[13])))
skip_calgate = sys.argv[2] == "1"
# When wrk stops, each connection has one request in flight that it will not count
# but the server still answers (and asks Exchange for): the EWS ratios count them.
conns = int(sys.argv[3]) if len(sys.argv) > 3 else 0
targets = ["nginx", "davmail"] if skip_calgate else ["nginx", "warm", "cold", "davmail"]
meas = {t: [r for r in rows if r["target"] == t and r["label"] != "warmup"] for t in targets}
warm_up = {t: [r for r in rows if r["target"] == t and r["label"] == "warmup"] for t in targets}


def users_per_s(r):
    return r["rps"] * r["users"] / r["reqs"]


print()
print("%-16s %9s %19s %10s %9s %9s %7s %9s %8s %8s %6s %9s %9s" % (
    "target", "req/s med", "[min .. max]", "users/s", "p50 med", "p99 med", "srv CPU", "req/CPU-s", "sim+ldap",
    "wrk CPU", "core0", "EWS/req", "EWS/user"))
summary = {}
for t in targets:
    v = meas[t]
    rps = [r["rps"] for r in v]
    ups = [users_per_s(r) for r in v]
    reqs = sum(r["reqs"] + conns for r in v)
    users = sum(r["users"] + conns * r["users"] / r["reqs"] for r in v)
    gua = sum(r["gua"] for r in v)
    per_cpu = med([r["rps"] / max(r["srv"], 1) * 100 for r in v])
    summary[t] = dict(rps=med(rps), ups=med(ups), p50=med([r["p50"] for r in v]), p99=med([r["p99"] for r in v]),
                      per_cpu=per_cpu,
                      gua_per_req=gua / reqs if reqs else float("nan"), gua_per_user=gua / users if users else float("nan"))
    ews = ("%9.3f %9.3f" % (summary[t]["gua_per_req"], summary[t]["gua_per_user"])) if t != "nginx" else "%9s %9s" % ("-", "-")
    print("%-16s %9.0f %19s %10.0f %7.0fus %7.0fus %6.0f%% %9.0f %7.0f%% %7.0f%% %5.0f%% %s" % (
        NAMES[t], med(rps), "[%.0f .. %.0f]" % (min(rps), max(rps)), med(ups), summary[t]["p50"], summary[t]["p99"],
        med([r["srv"] for r in v]), per_cpu, med([r["up"] for r in v]), med([r["wrk"] for r in v]),
        med([r["core0"] for r in v]), ews))
print("(users/s: user lookups answered per second = req/s x users per request; DavMail asks for one user per "
      "request, so its users/s is its req/s.\n req/CPU-s: requests per CPU-second the server process used (less "
      "sensitive to other load on core 0).\n EWS/req, EWS/user: GetUserAvailability requests the simulator "
      "answered during the rounds / requests or user lookups\n sent (completed + the one in flight per connection when wrk stopped, which the server still answers).)")
if not skip_calgate and warm_up["warm"]:
    w = warm_up["warm"][0]
    print("fresh calgate (the warm instance's first %s pass, cache empty at its start): %.0f req/s, p99 %.0f us, "
          "%.3f EWS requests per request" % ("warm-up", w["rps"], w["p99"], w["gua"] / (w["reqs"] + conns)))

print()
print("per round (req/s; users/s for DavMail):")
labels = sorted({r["label"] for r in rows if r["label"] != "warmup"}, key=lambda s: int(s[5:]))
for lab in labels:
    parts = []
    by = {r["target"]: r for r in rows if r["label"] == lab}
    for t in targets:
        if t in by:
            parts.append("%s %.0f (p99 %.1f ms)" % (t, by[t]["rps"], by[t]["p99"] / 1000))
    extra = ""
    if "warm" in by and "nginx" in by:
        extra = "  warm/nginx %.3f" % (by["warm"]["rps"] / by["nginx"]["rps"])
    print("  %-7s %s%s" % (lab, "   ".join(parts), extra))

met = True
print()
if skip_calgate:
    print("(BENCH_SKIP_CALGATE=1: no calgate figures, no goals judged)")
    met = False
else:
    r1 = summary["warm"]["rps"] / summary["nginx"]["rps"]
    per_round = [r["rps"] / n["rps"] for lab in labels
                 for r in meas["warm"] if r["label"] == lab for n in meas["nginx"] if n["label"] == lab]
    r2w = summary["warm"]["ups"] / summary["davmail"]["ups"]
    r2c = summary["cold"]["ups"] / summary["davmail"]["ups"]
    r3 = summary["cold"]["gua_per_req"]
    g1, g2, g3 = r1 >= GOAL_WARM_VS_NGINX, r2c >= GOAL_USERS_VS_DAVMAIL, r3 < GOAL_EWS_PER_LOOKUP
    print("%-58s %10s %10s %s" % ("ratio", "value", "goal", "verdict"))
    print("%-58s %10.3f %10s %s" % ("warm calgate req/s / nginx req/s (medians)", r1, ">= %.2f" % GOAL_WARM_VS_NGINX,
                                    "MET" if g1 else "NOT MET"))
    print("%-58s %10s" % ("  per-round warm/nginx: median [min .. max]",
                          "%.3f [%.3f .. %.3f]" % (med(per_round), min(per_round), max(per_round))))
    print("%-58s %10.1f %10s %s" % ("calgate cold users/s / DavMail users/s (both ask Exchange)", r2c,
                                    ">= %.0f" % GOAL_USERS_VS_DAVMAIL, "MET" if g2 else "NOT MET"))
    print("%-58s %10.1f %10s %s" % ("calgate warm users/s / DavMail users/s (cache vs none)", r2w,
                                    ">= %.0f" % GOAL_USERS_VS_DAVMAIL, "MET" if r2w >= GOAL_USERS_VS_DAVMAIL else "NOT MET"))
    print("%-58s %10.3f %10s %s" % ("EWS requests per calgate request (cold, cache off)", r3, "< 1", "MET" if g3 else "NOT MET"))
    print("%-58s %10.3f" % ("EWS requests per user lookup (cold)", summary["cold"]["gua_per_user"]))
    print("%-58s %10.3f" % ("EWS requests per user lookup (DavMail)", summary["davmail"]["gua_per_user"]))
    print("%-58s %10.3f" % ("EWS requests per request (warm, cache on)", summary["warm"]["gua_per_req"]))
    print("%-58s %10.3f" % ("warm calgate / nginx, requests per server CPU-second", summary["warm"]["per_cpu"] / summary["nginx"]["per_cpu"]))
    print("%-58s %10.2f" % ("calgate warm p99 / nginx p99", summary["warm"]["p99"] / summary["nginx"]["p99"]))
    met = g1 and g2 and g3

notes = []
for t in targets:
    v = meas[t]
    rps = [r["rps"] for r in v]
    if rps and max(rps) > 1.2 * min(rps):
        notes.append("%s req/s varied %.0f%% between rounds (other load on the machine?): compare paired rounds" % (
            NAMES[t], 100 * (max(rps) / min(rps) - 1)))
    if med([r["wrk"] for r in v]) >= 90:
        notes.append("wrk used >= 90%% of core 1 against %s: those runs may be client-bound" % NAMES[t])
    srv, core0, oth = med([r["srv"] for r in v]), med([r["core0"] for r in v]), med([r["others"] for r in v])
    if core0 - srv > 15:
        notes.append("%s got %.0f%% of core 0 while core 0 was %.0f%% busy: the other (idle) servers of this "
                     "benchmark used %.0f%%, the rest (~%.0f%%) went to other processes and to interrupts" % (
                         NAMES[t], srv, core0, oth, max(core0 - srv - oth, 0)))
for n in notes:
    print("note: " + n)
open(sys.argv[1] + ".met", "w").write("1" if met else "0")
