"""The local demo: the service, its worker and the Google and Trello emulators, with a seeded workspace.

Not part of the production package: ``server/`` never imports this package or ``emulators/``
(``tests/app/test_layering.py``). Run it with ``bash scripts/demo.sh`` or ``python -m demo``.
"""
