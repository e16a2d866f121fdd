"""How `make test` shares the fault suite between two xdist workers (`--dist loadgroup`).

The three-broker faults (test_cluster_faults.py) run on a cluster and stack of their own, so one
worker runs them beside the other faults, which kill the local stack's processes and servers and
so run one at a time, all on the other worker. That is what xdist's `xdist_group` marks are
for, but under pytest 9.2 they are lost (xdist 3.8 renames `item._nodeid`, which pytest no
longer reads: every test became a group of its own, and two workers started the cluster at
once), so tests/faults/conftest.py makes the groups with this scheduler, by module.
"""

from __future__ import annotations

from xdist.scheduler import LoadScopeScheduling

CLUSTER_MODULE = "test_cluster_faults.py"


def fault_group(nodeid: str) -> str:
    """The work unit of a fault test: "cluster", or "local-stack" for every other module (one
    added to tests/faults joins the local stack's, the safe side)."""
    module = nodeid.split("::", 1)[0]
    return "cluster" if module.endswith("/" + CLUSTER_MODULE) else "local-stack"


class FaultGroups(LoadScopeScheduling):  # type: ignore[misc]  # xdist has no type hints
    """xdist's scheduling by scope, the scopes being the two groups."""

    def _split_scope(self, nodeid: str) -> str:
        return fault_group(nodeid)
