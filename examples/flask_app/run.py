"""Run the Flask example end to end with Flask's test client and CLI runner.

python examples/flask_app/run.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ.setdefault("EXAMPLE_WORKDIR", os.getcwd())
sys.path.insert(0, str(HERE))

from app import app  # noqa: E402


def main() -> None:
    client = app.test_client()
    for item in ("tea", "scones"):
        reply = client.post("/orders", json={"item": item})
        print(f"POST /orders {item}: {reply.status_code}, waiting={reply.json['waiting']}")
    print("GET /menu:", client.get("/menu").json)
    result = app.test_cli_runner().invoke(args=["freight", "work", "--stop-when-empty", "--sleep", "0.1"])
    print(f"flask freight work exited {result.exit_code}")
    print((Path(os.environ["EXAMPLE_WORKDIR"]) / "storage" / "shipping.log").read_text().strip())


if __name__ == "__main__":
    main()
