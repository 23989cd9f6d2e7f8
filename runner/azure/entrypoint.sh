#!/usr/bin/env bash
# One ephemeral GitHub Actions runner per Azure Container Apps job execution (infra/azure/runner.py).
#
# KEDA's github-runner rule starts an execution for each queued job labelled $RUNNER_LABELS. This
# script signs a GitHub App JWT with the App's private key (RS256), exchanges it for an installation
# token, asks the repository for a just-in-time runner configuration (one job, then the runner is
# removed: POST /repos/{owner}/{repo}/actions/runners/generate-jitconfig, which needs the App's
# "Administration: read and write" repository permission) and runs it. The App key and tokens never
# reach the job: they are dropped from the environment before the runner starts.
set -euo pipefail

: "${GITHUB_REPOSITORY:?owner/name of the repository}"
: "${GITHUB_APP_ID:?the GitHub App id}"
: "${GITHUB_APP_INSTALLATION_ID:?the installation id of the App on the repository}"
: "${GITHUB_APP_KEY:?the private key of the App (PEM)}"
: "${RUNNER_LABELS:?the labels of the runner, comma-separated}"
api="${GITHUB_API_URL:-https://api.github.com}"
runner_home="${RUNNER_HOME:-/home/runner}"

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

key_file="$(mktemp)"
printf '%s\n' "$GITHUB_APP_KEY" >"$key_file"
now="$(date +%s)"
header="$(printf '{"alg":"RS256","typ":"JWT"}' | b64url)"
# iat 60 s in the past for clock drift; GitHub accepts at most 10 minutes of lifetime.
payload="$(printf '{"iat":%d,"exp":%d,"iss":"%s"}' "$((now - 60))" "$((now + 540))" "$GITHUB_APP_ID" | b64url)"
signature="$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -sign "$key_file" -binary | b64url)"
rm -f "$key_file"
jwt="$header.$payload.$signature"

github() { # METHOD PATH TOKEN [BODY]
  curl -fsS -X "$1" "$api$2" -H "Authorization: Bearer $3" -H "Accept: application/vnd.github+json" \
    -H "X-GitHub-Api-Version: 2022-11-28" ${4:+--data "$4"}
}

token="$(github POST "/app/installations/$GITHUB_APP_INSTALLATION_ID/access_tokens" "$jwt" | jq -er .token)"
name="${RUNNER_LABELS%%,*}-$(hostname)"
body="$(jq -cn --arg name "$name" --arg labels "$RUNNER_LABELS" \
  '{name: $name, runner_group_id: 1, labels: ($labels | split(",")), work_folder: "_work"}')"
jit="$(github POST "/repos/$GITHUB_REPOSITORY/actions/runners/generate-jitconfig" "$token" "$body" |
  jq -er .encoded_jit_config)"

unset GITHUB_APP_KEY token jwt
cd "$runner_home"
exec ./run.sh --jitconfig "$jit"
