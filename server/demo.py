"""Local demo: the service on SQLite, migrated and served on http://127.0.0.1:5000.

Run through ``bash scripts/demo.sh``. Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "5000")))
    args = parser.parse_args(argv)

    from flask_migrate import upgrade

    from server import create_app
    from emulators.common import serve_forever

    app = create_app()
    with app.app_context():
        upgrade()
    print(f"service on http://127.0.0.1:{args.port}  (health: /health)", flush=True)
    serve_forever(app, "127.0.0.1", args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
