"""``python -m vlagent.agent.trajectory``: regenerate schema.json from the record models."""

from vlagent.agent.trajectory.format import write_schema

print(f"wrote {write_schema()}")
