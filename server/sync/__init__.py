"""The sync engine: intake, workers and the rules that keep a sheet and a board in step.

Nothing in this package imports Flask; it works on SQLAlchemy sessions and provider clients.
"""
