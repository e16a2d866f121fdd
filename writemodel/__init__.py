"""The write model: the writer's pure core, apart from the process that runs it.

`decide` answers a verdict over a contract's `state` (folded from its events, with its event
ids in `ids`), `stored` is what the writer's state and ids topics hold, and `preview` composes
`decide`, the read model and the risk rules into a what-if. No Kafka, PostgreSQL, HTTP or clock
here (tests/unit/test_core_imports.py): `services/writer/` is the shell that runs them.
"""
