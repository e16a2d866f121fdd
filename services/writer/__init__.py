"""The single writer: the only producer to the events topic.

`state` and `decide` are its pure core (no Kafka, clock or I/O); the process around them moves
submissions in and events and verdicts out.
"""
