"""The reads of PostgreSQL that several processes share (the API, the webhook deliverer, the
alert router, the risk agent): one function per read, named after what it returns, and the
formatters that shape what they return (`formatters.py`)."""
