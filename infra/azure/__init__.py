"""Azure: everything the program knows about this cloud, in files named as in every cloud folder.

SDK-free (safe to import from config, cost and the plan): `settings` (the `azure:` config section,
address plan, cross-section checks), `footprint` (what always runs, for cost and the platform),
`fakes` (the offline plan's engine answers). `platform` (`build(cfg) -> Platform`) and the
component modules import pulumi_azure_native; reach them through `infra.clouds.part`.
"""

# The `runs-on` label of this cloud's in-network CI runner `name`, filled in by infra/ci.py (this
# module imports nothing, so the workflows' `stacks` job needs only PyYAML). The Container Apps
# runners register with their name as label (runner/azure/entrypoint.sh), and KEDA's github-runner
# rule counts the queued jobs that carry it (infra/azure/runner.py).
RUNNER_LABEL = "{name}"
