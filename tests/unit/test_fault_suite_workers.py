"""`make test` runs the fault suite on two workers: the local stack's faults must all land on
one (they kill its servers and may never overlap), the three-broker faults on the other; and
the table printed at the end lists the faults in the order a single run would have, whichever
worker reported first."""

from __future__ import annotations

from tests.support.fault_groups import fault_group
from tests.support.fault_report import Row, table


def test_the_local_stacks_faults_share_one_group_and_the_clusters_another() -> None:
    survives = "tests/faults/test_faults.py::test_every_process_survives"
    rides_out = "tests/faults/test_cluster_faults.py::test_the_services_ride_out_a_broker_fault"
    local = [
        f"{survives}[writer SIGKILL]",
        f"{survives}[Kafka SIGKILL, restarted after 5 s]",
        "tests/faults/test_kafka_durability.py::test_events_survive_a_killed_broker",
        "tests/faults/test_a_module_added_later.py::test_it",
    ]
    cluster = [
        f"{rides_out}[leader SIGSTOP 12 s (> broker session timeout), SIGCONT]",
        f"{rides_out}[writer's transaction coordinator SIGKILL]",
    ]
    assert {fault_group(n) for n in local} == {"local-stack"}
    assert {fault_group(n) for n in cluster} == {"cluster"}


def test_the_table_lists_each_modules_faults_in_run_order_whichever_worker_came_first() -> None:
    local = [Row(("test_faults.py", i), f"| local {i} |", 10.0) for i in range(3)]
    cluster = [Row(("test_cluster_faults.py", i), f"| cluster {i} |", 20.0) for i in range(2)]
    lines = table(local + cluster).splitlines()
    assert lines[2:7] == [
        "| cluster 0 |",
        "| cluster 1 |",
        "| local 0 |",
        "| local 1 |",
        "| local 2 |",
    ]
    assert lines[-1] == "5 fault(s) in 70 s of load and checks."
