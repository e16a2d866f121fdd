"""The API's routes, a module per part of the API: each parses, checks access with
`http/ownership.py`, calls one function and returns a pydantic model of `schemas.py`."""
