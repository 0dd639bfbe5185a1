#!/usr/bin/env python3
"""A deterministic, realistic nginx `combined` access log for bench/agent.sh.

    gen_nginx_log.py OUT [--lines 1000000] [--seed 1] [--start 2026-11-20T06:00:00] [--hours 3] [--tz +0000]

Every line is what nginx writes with the built-in `combined` format:

    $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"

with escape=default (`"`, `\\` and bytes outside 32..126 as \\xXX). The mix: a few thousand client
addresses (IPv4 and some IPv6) with a long tail, a site's pages, static assets and a JSON API with
ids and query strings, status codes weighted like a busy site (mostly 200, some 304/301/404, a few
4xx/5xx), sizes that depend on the kind of resource, referrers (none, the site itself, search
engines), browser, mobile, bot and tool user agents, and timestamps spread over HOURS hours from
START in non-decreasing order with the small disorder nginx shows (a line is logged when its request
ends). A small share of lines are the odd ones real logs hold: TLS handshakes sent to a plain HTTP
port (`"\\x16\\x03\\x01..." 400`), connections closed before a request (`"-" 400 0`), a remote user.

The same arguments always give the same bytes. The last line printed on stdout is machine readable:
`lines=N bytes=B first_time=... last_time=...`.
"""
from __future__ import annotations

import argparse
import bisect
import datetime as dt
import random
import sys

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36 Edg/{v}.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.{m} Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_{m} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.{m} Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 16_{m} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.{m} Mobile/15E148 Safari/604.1",
]
BOTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
]
TOOLS = [
    "curl/7.88.1", "curl/8.5.0", "Wget/1.21.3", "python-requests/2.31.0", "Go-http-client/1.1",
    "okhttp/4.12.0", "Apache-HttpClient/4.5.14 (Java/17.0.9)", "kube-probe/1.28", "Prometheus/2.48.0",
    "ELB-HealthChecker/2.0", "-",
]
SECTIONS = ["shoes", "shirts", "jackets", "bags", "hats", "socks", "sale", "new", "kids", "outdoor"]
STATIC = [
    ("/static/css/main.{h}.css", 18000, 42000), ("/static/js/app.{h}.js", 90000, 380000),
    ("/static/js/vendor.{h}.js", 250000, 900000), ("/static/img/logo.svg", 3000, 3400),
    ("/static/img/products/{id}-{w}.webp", 8000, 160000), ("/favicon.ico", 1150, 1150),
    ("/static/fonts/inter-{w}.woff2", 24000, 48000),
]
REFERRER_SITES = ["https://www.example-shop.com", "https://example-shop.com"]
SEARCH = ["https://www.google.com/", "https://www.bing.com/", "https://duckduckgo.com/", "https://www.google.de/"]


def weighted(rng: random.Random, table):
    values, cums = table
    return values[min(bisect.bisect_right(cums, rng.random()), len(values) - 1)]


def cumulative(pairs):
    total = sum(w for _, w in pairs)
    values, cums, acc = [], [], 0.0
    for value, w in pairs:
        acc += w / total
        values.append(value)
        cums.append(acc)
    return values, cums


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", default="2026-11-20T06:00:00", help="local wall time of the first line")
    ap.add_argument("--hours", type=float, default=3.0)
    ap.add_argument("--tz", default="+0000", help="the $time_local offset, e.g. +0100")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    start = dt.datetime.fromisoformat(args.start)
    span = args.hours * 3600.0

    # Clients: a few hot ones (offices behind NAT, crawlers), then a long tail.
    clients = []
    for i in range(6000):
        if i % 11 == 0:
            addr = "2001:db8:%x:%x::%x" % (rng.randrange(1, 0xffff), rng.randrange(1, 0xffff), rng.randrange(1, 0xffff))
        else:
            addr = "%d.%d.%d.%d" % (rng.choice([23, 31, 45, 62, 77, 81, 93, 104, 141, 178, 185, 203, 212]),
                                    rng.randrange(256), rng.randrange(256), rng.randrange(1, 255))
        clients.append(addr)
    client_weights = [1.0 / (i + 3) ** 0.9 for i in range(len(clients))]
    client_table = cumulative(list(zip(clients, client_weights)))
    ua_kind = cumulative([("browser", 0.80), ("bot", 0.09), ("tool", 0.11)])
    status_page = cumulative([(200, 0.86), (304, 0.04), (301, 0.02), (302, 0.02), (404, 0.04), (403, 0.005),
                              (500, 0.003), (502, 0.004), (503, 0.003), (499, 0.005)])
    status_api = cumulative([(200, 0.88), (201, 0.03), (204, 0.02), (400, 0.02), (401, 0.015), (404, 0.02),
                             (409, 0.005), (429, 0.005), (500, 0.003), (504, 0.002)])
    status_static = cumulative([(200, 0.70), (304, 0.28), (404, 0.02)])
    api_methods = cumulative([("GET", 0.78), ("POST", 0.14), ("PUT", 0.04), ("DELETE", 0.02), ("PATCH", 0.02)])
    kind_table = cumulative([("page", 0.30), ("static", 0.38), ("api", 0.30), ("odd", 0.02)])

    def user_agent() -> str:
        kind = weighted(rng, ua_kind)
        if kind == "browser":
            return rng.choice(BROWSERS).format(v=rng.randrange(115, 132), m=rng.randrange(0, 7))
        if kind == "bot":
            return rng.choice(BOTS).format(v=rng.randrange(115, 132))
        return rng.choice(TOOLS)

    def referrer(path: str) -> str:
        r = rng.random()
        if r < 0.35:
            return "-"
        if r < 0.85:
            return rng.choice(REFERRER_SITES) + rng.choice(["/", "/category/" + rng.choice(SECTIONS), "/cart", "/product/%d" % rng.randrange(1, 50000)])
        return rng.choice(SEARCH) + ("search?q=" + rng.choice(SECTIONS) + "+" + rng.choice(["sale", "cheap", "size+42", "red"]) if rng.random() < 0.3 else "")

    def request():
        kind = weighted(rng, kind_table)
        proto = "HTTP/1.1" if rng.random() < 0.93 else ("HTTP/2.0" if rng.random() < 0.9 else "HTTP/1.0")
        if kind == "page":
            path = rng.choice(["/", "/category/%s" % rng.choice(SECTIONS), "/product/%d" % rng.randrange(1, 50000),
                               "/product/%d?color=%s&size=%d" % (rng.randrange(1, 50000), rng.choice(["red", "blue", "black"]), rng.randrange(36, 47)),
                               "/search?q=%s&page=%d" % (rng.choice(SECTIONS), rng.randrange(1, 9)), "/cart", "/checkout",
                               "/account/orders", "/robots.txt", "/sitemap.xml", "/wp-login.php", "/.env"])
            status = weighted(rng, status_page)
            size = 0 if status in (304, 499) else (rng.randrange(150, 600) if status >= 300 else rng.randrange(9000, 85000))
            return "GET", path, proto, status, size
        if kind == "static":
            tmpl, lo, hi = rng.choice(STATIC)
            path = tmpl.format(h="%08x" % rng.randrange(1 << 32) if rng.random() < 0.1 else "3f9a2c1d", id=rng.randrange(1, 50000),
                               w=rng.choice([320, 640, 1280]))
            status = weighted(rng, status_static)
            size = 0 if status == 304 else (rng.randrange(150, 200) if status == 404 else rng.randrange(lo, hi + 1))
            return "GET", path, proto, status, size
        if kind == "api":
            method = weighted(rng, api_methods)
            path = rng.choice(["/api/v1/products/%d", "/api/v1/products?category=%s&limit=24&offset=%d",
                               "/api/v1/cart/%d/items", "/api/v2/users/%d/session", "/api/v1/recommendations?user=%d",
                               "/api/v1/orders/%d", "/graphql", "/healthz", "/metrics"])
            if "%s" in path:
                path = path % (rng.choice(SECTIONS), rng.randrange(0, 2000, 24))
            elif "%d" in path:
                path = path % rng.randrange(1, 10_000_000)
            status = weighted(rng, status_api)
            size = 0 if status == 204 else (rng.randrange(20, 400) if status >= 300 else rng.randrange(40, 12000))
            return method, path, proto, status, size
        # The odd lines real access logs hold.
        r = rng.random()
        if r < 0.5:
            return None, "\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xFC\\x03\\x03", None, 400, 157
        if r < 0.8:
            return None, "-", None, 400, 0
        return "GET", "/search?q=%s\\x22%%3E%%3Cscript%%3E" % rng.choice(SECTIONS), "HTTP/1.1", 200, rng.randrange(9000, 20000)

    out = open(args.out, "wb", buffering=1 << 20)
    total_bytes = 0
    step = span / max(1, args.lines)
    t = 0.0
    first = last = None
    for n in range(args.lines):
        t += rng.expovariate(1.0 / step) if n else 0.0
        # Logged at the end of the request: up to about 2 s of disorder for a few lines.
        jitter = -rng.random() * 2.0 if rng.random() < 0.02 else 0.0
        when = start + dt.timedelta(seconds=max(0.0, min(span, t) + jitter))
        stamp = "%02d/%s/%04d:%02d:%02d:%02d %s" % (when.day, MONTHS[when.month - 1], when.year, when.hour, when.minute, when.second, args.tz)
        if first is None:
            first = stamp
        last = stamp
        method, path, proto, status, size = request()
        if method is None:
            req = path
        else:
            req = "%s %s %s" % (method, path, proto)
        if method is None:
            ref, ua = "-", "-"
        else:
            ref, ua = referrer(path), user_agent()
        user = "-" if rng.random() > 0.01 else rng.choice(["alice", "bob", "deploy", "admin"])
        line = '%s - %s [%s] "%s" %d %d "%s" "%s"\n' % (weighted(rng, client_table), user, stamp, req, status, size, ref, ua)
        data = line.encode()
        out.write(data)
        total_bytes += len(data)
    out.close()
    print(f"lines={args.lines} bytes={total_bytes} first_time={first} last_time={last}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
