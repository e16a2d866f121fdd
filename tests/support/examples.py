"""Moved to simulation/examples.py (the benches use it too); bench/restart_cost.py still imports
these two from here."""

from simulation.examples import example as example
from simulation.examples import submission as submission
