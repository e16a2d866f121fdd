"""The fixtures every tier shares live in tests/support/; this loads them."""

from hypothesis import settings

pytest_plugins = [
    "tests.support.stack",
    "tests.support.services",
    "tests.support.browser",
    "tests.support.alert_channels",
    "tests.support.oidc",
]

# No property test asserts how fast an example runs: hypothesis's default deadline (200 ms an
# example) failed `test_every_documented_decimal_is_accepted` on a loaded machine, where its
# regex draws are slow, with every example correct. Speed is measured under bench/.
settings.register_profile("ledger", deadline=None)
settings.load_profile("ledger")
