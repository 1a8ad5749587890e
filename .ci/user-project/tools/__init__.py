"""The user project's own `tools` package: vlagent must never shadow it."""

OWNER = "user-project"
