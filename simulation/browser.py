"""How the browser tests and the benchmarks start Debian's chromium (`make install` installs it)
under Playwright: headless, and quiet (no first-run, sync or update traffic)."""

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
