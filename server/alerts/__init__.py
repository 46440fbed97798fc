"""Alerts: incidents opened once and resolved once, told by email and Slack, and daily digests.

- ``incidents.py``: what is wrong with a workspace now, and the incidents table kept in step.
- ``prefs.py``: who hears about it and how (the workspace page's form).
- ``messages.py``: what a notice says; ``channels.py``: email (Flask-Mailman) and Slack.
- ``rounds.py``: one round (incidents, notices, digests) on an injectable clock.
- ``runner.py``: the worker's ``alerts`` periodic job, on its own thread, one round at a time.
- ``views.py``: the workspace page's *Connection health* and *Alerts* blocks.
"""
