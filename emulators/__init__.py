"""Stateful stand-ins for the Trello REST API and the Google Sheets API v4.

They run on loopback so that the real clients (requests, gspread) talk to them over HTTP in
tests, the local demo and the benchmarks. Nothing here is imported by ``server``.
"""
