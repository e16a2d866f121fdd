"""Valid event histories made up for the tests and the benchmarks (no part of the service)."""
