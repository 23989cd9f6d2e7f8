#!/usr/bin/env bash
# The drift report of one stack, run by pulumi-stack.yml after `pulumi preview --refresh
# --expect-no-changes` (drift.yml). Clean: one line in the job summary. Drift (or a check that could
# not finish): the preview's output in the job summary and in ONE open issue per stack, titled
# "Drift: stack <stack>" (opened the first time, commented on while it stays open), then exit 1.
# Environment: STACK, OUTCOME (the preview step's outcome), OUTPUT (its output), RUN_URL, REPO,
# GH_TOKEN (issues: write), GITHUB_STEP_SUMMARY.
set -euo pipefail

title="Drift: stack $STACK"
if [ "$OUTCOME" = "success" ]; then
  echo "### $STACK: no drift" >> "$GITHUB_STEP_SUMMARY"
  exit 0
fi

body="$(mktemp)"
{
  echo "The scheduled drift check of \`$STACK\` found changes, or could not finish: $RUN_URL"
  echo
  echo "<details><summary>pulumi preview --refresh --expect-no-changes</summary>"
  echo
  echo '```'
  printf '%s\n' "${OUTPUT:-no output: the preview failed before it printed one (see the run)}" | tail -c 60000
  echo '```'
  echo "</details>"
} > "$body"
{
  echo "### $STACK: drift"
  cat "$body"
} >> "$GITHUB_STEP_SUMMARY"

number="$(gh issue list --repo "$REPO" --state open --limit 500 --json number,title \
  --jq ".[] | select(.title == \"$title\") | .number" | head -n 1)"
if [ -n "$number" ]; then
  gh issue comment "$number" --repo "$REPO" --body-file "$body" > /dev/null
  echo "::error title=drift in $STACK::see issue #$number (updated)"
else
  gh issue create --repo "$REPO" --title "$title" --body-file "$body" > /dev/null
  echo "::error title=drift in $STACK::opened an issue: $title"
fi
exit 1
