"""llm-landing-zone: the Pulumi program's building blocks (config, platforms, serving, plan)."""
