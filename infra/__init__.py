"""llm-landing-zone: the Pulumi program's building blocks (config, platforms, serving, plan)."""

# Keep this file free of imports: the CrossGuard pack (policy/) imports infra.policy_rules in a
# virtualenv that holds only pulumi-policy.
