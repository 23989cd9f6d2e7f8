"""AWS: everything the program knows about this cloud, in files named as in every cloud folder.

SDK-free (safe to import from config, cost and the plan): `settings` (the `aws:` config section,
address plan, cross-section checks), `footprint` (what always runs, for cost and the platform),
`fakes` (the offline plan's engine answers). `platform` (`build(cfg) -> Platform`) and the
component modules import pulumi_aws; reach them through `infra.clouds.part`.
"""

# The `runs-on` label of this cloud's in-network CI runner `name`, filled in by infra/ci.py (this
# module imports nothing, so the workflows' `stacks` job needs only PyYAML). CodeBuild-hosted
# runners take jobs labelled codebuild-<project>-${{ github.run_id }}-${{ github.run_attempt }}
# (AWS CodeBuild user guide, "Tutorial: Configure a CodeBuild-hosted GitHub Actions runner").
RUNNER_LABEL = "codebuild-{name}-{run_id}-{run_attempt}"
