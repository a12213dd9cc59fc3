"""API latency during a login flood, against a live stack (gunicorn + worker, production settings).

    python bench/login_flood.py [--seconds 10] [--flooders 6]

Three phases of `--seconds` each, printing p50/p95 of `GET /api/tutors` (one client, one request
after another) and what the flooders got back:
  1. no flood;
  2. `--flooders` threads posting wrong passwords for one username to /accounts/login/ (locked out
     after LOGIN_FAILURE_LIMIT: refused before any password is hashed);
  3. the same, with a new username on every attempt (a spray: each attempt is a failure for a
     new username + address pair; after LOGIN_ADDRESS_FAILURE_LIMIT of them the address itself is
     locked out and refused before any password is hashed).
SQLite unless DATABASE_URL names a PostgreSQL server (a database is created and dropped).
"""

import argparse
import http.cookiejar
import itertools
import os
import re
import statistics
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from testsupport.livestack import LiveStack  # noqa: E402

TOKEN = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def api_latencies(stack, key, seconds):
    timings = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        status, _ = stack.request("GET", "/api/tutors", key=key)
        timings.append((time.perf_counter() - started) * 1000)
        assert status == 200, status
    return timings


def flood(stack, usernames, stop, outcomes):
    """Post wrong passwords until `stop` is set; count the answers by status."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    token = TOKEN.search(opener.open(f"{stack.url}/accounts/login/").read()).group(1).decode()
    while not stop.is_set():
        data = urllib.parse.urlencode(
            {"username": next(usernames), "password": "wrong", "csrfmiddlewaretoken": token}
        ).encode()
        request = urllib.request.Request(
            f"{stack.url}/accounts/login/", data=data, headers={"Referer": stack.url}
        )
        try:
            with opener.open(request, timeout=30) as response:
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        except OSError as error:  # a worker restarted under the load: count it, keep flooding
            status = type(error).__name__
        outcomes[status] += 1


def phase(stack, key, seconds, flooders, usernames):
    stop, outcomes = threading.Event(), Counter()
    threads = [
        threading.Thread(target=flood, args=(stack, usernames, stop, outcomes)) for _ in range(flooders)
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.5 if threads else 0)  # let the flood start
    timings = api_latencies(stack, key, seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return timings, outcomes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--flooders", type=int, default=6)
    args = parser.parse_args()
    counter = itertools.count()
    sprayed = (f"sprayed-{index}" for index in counter)
    phases = [
        ("no flood", 0, None),
        ("one username", args.flooders, itertools.repeat("coach")),
        ("new username each time", args.flooders, sprayed),
    ]
    # The login page needs the hashed static files of production settings (into ./staticfiles).
    setup = [("collectstatic", "--noinput", "-v", "0")]
    with LiveStack(database_url=os.environ.get("DATABASE_URL", ""), name="loginbench", setup=setup) as stack:
        key = stack.create_api_key("bench")
        print(f"{'phase':<24} {'API p50':>8} {'API p95':>8} {'requests':>9}  login answers")
        for name, flooders, usernames in phases:
            timings, outcomes = phase(stack, key, args.seconds, flooders, usernames)
            answers = ", ".join(f"{count}× {status}" for status, count in outcomes.most_common()) or "—"
            print(
                f"{name:<24} {statistics.median(timings):>6.1f}ms {percentile(timings, 0.95):>6.1f}ms "
                f"{len(timings):>9}  {answers}"
            )


if __name__ == "__main__":
    main()
