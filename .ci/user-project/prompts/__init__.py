"""The user project's own `prompts` package: vlagent must never shadow it."""

OWNER = "user-project"
