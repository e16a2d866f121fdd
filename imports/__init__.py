"""Bringing an agency's book of business in: the pure part of `ledger import`.

Readers stream a file's rows (never the whole file), each format's columns are read into one
shape (`placements.Placement`), the planner turns placements into the catalogue's events with
ids derived from the source record, and the dry run judges them with the preview's pure path.
No Kafka, PostgreSQL, HTTP or clock here: the shell (`services/importer/`) moves the events.
"""
