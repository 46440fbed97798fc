"""Tests of the modules at the root of ``server/``: the app factory and its configuration, ids, access
across workspaces, and that the package never imports the emulators or the demo."""
