"""CrossGuard policy pack (see __main__.py) over the rules in infra/policy_rules, which `llz plan` runs too."""
