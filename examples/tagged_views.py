"""A standard-library WSGI application showing cache tags and ``flexible`` in web views.

    python examples/tagged_views.py             # serves http://127.0.0.1:8001 (wsgiref)
    python examples/tagged_views.py --demo      # calls the views in-process and prints what happened
    curl -i http://127.0.0.1:8001/products                   # MISS, then HIT until a product is added
    curl -i -d name=lamp http://127.0.0.1:8001/products      # adds one: flushes the "products" tag
    curl -i http://127.0.0.1:8001/stats                      # fresh 2 s, then stale + one refresh

``GET /products`` caches the list under the tag ``products`` (single-flight: a crowd of
first visitors loads it once); ``POST /products`` flushes the tag, so every page built
from the old list is gone at once. ``GET /stats`` uses ``flexible``: fresh for 2 s,
then served stale (at once) for up to 60 s while one background refresh recomputes it.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from freight import Application

StartResponse = Callable[..., Any]

app = Application(
    {
        "cache": {"default": "file", "stores": {"file": {"driver": "file", "path": "storage/cache"}}},
        "queue": {"default": "sync", "connections": {"sync": {"driver": "sync"}}},
    }
)
PRODUCTS = ["chair", "desk"]
LOADS = {"products": 0, "stats": 0}
_loads = threading.Lock()


def load_products() -> list[str]:
    """The slow query the cache saves (40 ms)."""
    with _loads:
        LOADS["products"] += 1
    time.sleep(0.04)
    return sorted(PRODUCTS)


def compute_stats() -> dict[str, Any]:
    """A slow aggregate (100 ms); ``computed`` tells which computation a page shows."""
    with _loads:
        LOADS["stats"] += 1
        run = LOADS["stats"]
    time.sleep(0.1)
    return {"products": len(PRODUCTS), "computed": run}


def products_view(environ: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """GET lists the products (tagged, single-flight); POST adds one and flushes the tag."""
    cache = app.cache()
    if environ["REQUEST_METHOD"] == "POST":
        size = int(environ.get("CONTENT_LENGTH") or 0)
        name = parse_qs(environ["wsgi.input"].read(size).decode()).get("name", [""])[0].strip()
        if name:
            PRODUCTS.append(name)
            cache.flush_tags("products")  # every cached page built from the old list is gone
        return "201 Created", {"added": name}
    hit = cache.has("products:list")
    items = cache.tags("products").remember("products:list", 600, load_products)
    return "200 OK", {"products": items, "cache": "HIT" if hit else "MISS"}


def stats_view(environ: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Fresh for 2 s, then stale-while-revalidate for up to 60 s."""
    return "200 OK", app.cache().flexible("stats", (2, 60), compute_stats)


ROUTES = {"/products": products_view, "/stats": stats_view}


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """The WSGI entry point."""
    view = ROUTES.get(environ.get("PATH_INFO", "/"))
    if view is None:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    status, body = view(environ)
    start_response(status, [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]


def call(path: str, method: str = "GET", body: str = "") -> dict[str, Any]:
    """Call the application in-process, as a server would."""
    import io

    environ = {
        "PATH_INFO": path,
        "REQUEST_METHOD": method,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body.encode()),
    }
    result: dict[str, Any] = json.loads(b"".join(application(environ, lambda *a: None)))
    return result


def demo() -> None:
    """Exercise both views and print what the cache did."""
    app.cache().flush()
    crowd: list[dict[str, Any]] = []
    threads = [threading.Thread(target=lambda: crowd.append(call("/products"))) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"10 concurrent first visits: loaded the product list {LOADS['products']} time(s)")
    print(f"next visit: cache {call('/products')['cache']}")
    call("/products", "POST", "name=lamp")
    after = call("/products")
    print(f"after adding a lamp: cache {after['cache']}, products {after['products']}")
    first = call("/stats")
    time.sleep(2.1)  # now stale
    started = time.monotonic()
    stale = call("/stats")
    took = (time.monotonic() - started) * 1000
    print(f"stats computed #{first['computed']}; stale read served #{stale['computed']} in {took:.0f} ms")
    time.sleep(0.3)  # the background refresh lands
    print(f"after the background refresh: stats computed #{call('/stats')['computed']}")
    print(f"stats computations: {LOADS['stats']}")


if __name__ == "__main__":
    if "--demo" in sys.argv:
        demo()
    else:
        from wsgiref.simple_server import make_server

        print("serving on http://127.0.0.1:8001 (Ctrl-C to stop)")
        make_server("127.0.0.1", 8001, application).serve_forever()
