"""Someone else's top-level `tools` package."""

OWNER = "someone-elses-tools"
