#!/usr/bin/env python3
"""The request mix of bench/lookup.sh, written once and read by every wrk script.

One line per free/busy request: the user numbers it asks for (1..USERS, as in the
slapd harness and `exchange_sim --generate`: userNNNNN@corp.example), space-separated.

- users per request: 1..10 with the weights below (mean ~3.7): most lookups are for
  one or a few people, a meeting planner asks for up to ten;
- which users: Zipf-distributed over the population (rank r has weight 1/r^s; the
  ranks are mapped to user numbers by a seeded shuffle, so the popular users are
  spread over the population), distinct within a request;
- deterministic: the same arguments give the same file on every run and machine
  (Python's Mersenne Twister with a fixed seed; no floating-point library calls).

usage: mix.py OUT USERS [REQUESTS=20000] [ZIPF_S=1.0] [SEED=20310512]
Prints a one-line summary on stderr.
"""
import bisect
import random
import sys

# users per request -> weight (percent)
COUNT_WEIGHTS = {1: 30, 2: 15, 3: 12, 4: 10, 5: 8, 6: 7, 7: 6, 8: 5, 9: 4, 10: 3}


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out, users = sys.argv[1], int(sys.argv[2])
    requests = int(sys.argv[3]) if len(sys.argv) > 3 else 20000
    s = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
    seed = int(sys.argv[5]) if len(sys.argv) > 5 else 20310512
    if users < 10 or requests < 1 or s < 0:
        sys.exit("mix.py: need USERS >= 10, REQUESTS >= 1, ZIPF_S >= 0")
    rng = random.Random(seed)
    user_of_rank = list(range(1, users + 1))
    rng.shuffle(user_of_rank)
    cdf, acc = [], 0.0
    for r in range(1, users + 1):
        acc += 1.0 / (r ** s) if s else 1.0
        cdf.append(acc)
    counts = sorted(COUNT_WEIGHTS)
    count_cdf, acc = [], 0
    for c in counts:
        acc += COUNT_WEIGHTS[c]
        count_cdf.append(acc)

    total_users, seen = 0, set()
    with open(out, "w") as f:
        for _ in range(requests):
            n = counts[bisect.bisect_right(count_cdf, rng.random() * count_cdf[-1])]
            picked = []
            while len(picked) < n:
                rank = min(bisect.bisect_right(cdf, rng.random() * cdf[-1]), users - 1)
                u = user_of_rank[rank]
                if u not in picked:
                    picked.append(u)
            f.write(" ".join(map(str, picked)) + "\n")
            total_users += n
            seen.update(picked)
    top = cdf[max(users // 100, 1) - 1] / cdf[-1]
    sys.stderr.write("mix: %d requests, %d user lookups (%.2f per request), %d distinct users of %d; "
                     "Zipf s=%.2f (the top 1%% of users get %.0f%% of lookups), seed %d\n" % (
                         requests, total_users, total_users / requests, len(seen), users, s, 100 * top, seed))


if __name__ == "__main__":
    main()
