"""CrossGuard policy pack (see __main__.py) over the rules in rules/, which `llz plan` runs too."""
