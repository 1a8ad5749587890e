"""The user project's own `agent` package: vlagent must never shadow it."""

OWNER = "user-project"
