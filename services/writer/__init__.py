"""The single writer: the only producer to the events topic.

The process only (`worker.py`): its pure core, `decide` over the contract's state, is the
`writemodel` package; the process around it moves submissions in and events and verdicts out.
"""
