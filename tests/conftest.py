"""The fixtures every tier shares live in tests/support/; this loads them."""

pytest_plugins = [
    "tests.support.stack",
    "tests.support.services",
    "tests.support.browser",
    "tests.support.alert_channels",
    "tests.support.oidc",
]
