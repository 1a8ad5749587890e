"""``python -m agent.trajectory``: regenerate schema.json from the record models."""

from agent.trajectory.format import write_schema

print(f"wrote {write_schema()}")
