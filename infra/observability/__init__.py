"""What operators watch: one definition of the signals, the alert rules and the dashboard.

Cloud-free and SDK-free (the dashboard uses Grafana's foundation SDK, a pure-Python builder): each
cloud's managed Prometheus and Grafana receive the same rule groups and dashboard.
"""
