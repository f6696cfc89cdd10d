#!/usr/bin/env bash
# Every endpoint of the Build Execution API integration guide, in order, with curl:
# login, project (created if needed), create, read, start, status until done, logs (JSON and
# text), list with filters, then cancel, retry and delete a second build.
#
# Configuration (the same variables as the `imagefactory` CLI):
#   IMAGEFACTORY_URL        server root, e.g. http://localhost:8080 (a trailing /api/v1 is accepted)
#   IMAGEFACTORY_TOKEN      an access token, or IMAGEFACTORY_EMAIL + IMAGEFACTORY_PASSWORD to log in
#   IMAGEFACTORY_TENANT     the tenant UUID (sent as X-Tenant-ID)
# The project: IMAGEFACTORY_PROJECT (its UUID), or else the project named IMAGEFACTORY_PROJECT_NAME
# (default "curl-example"), created when missing from IMAGEFACTORY_REPOSITORY_URL and, to push the
# image, IMAGEFACTORY_IMAGE_REPOSITORY (e.g. 127.0.0.1:5000/demo/hello).
#   IMAGEFACTORY_BRANCH     branch to build (default: main); IMAGEFACTORY_TIMEOUT seconds to wait (default: 600)
#
# Needs bash, curl >= 7.76 (--fail-with-body) and python3 (to read JSON). Any failed step stops
# the script with a non-zero status and prints the server's error envelope.
set -euo pipefail

: "${IMAGEFACTORY_URL:?set IMAGEFACTORY_URL, e.g. http://localhost:8080}"
: "${IMAGEFACTORY_TENANT:?set IMAGEFACTORY_TENANT to the tenant UUID}"
API="${IMAGEFACTORY_URL%/}"
API="${API%/api/v1}/api/v1"
BRANCH="${IMAGEFACTORY_BRANCH:-main}"
TIMEOUT="${IMAGEFACTORY_TIMEOUT:-600}"

step() { printf '\n== %s\n' "$*" >&2; }

# json EXPR: evaluates a Python expression over the JSON document on stdin (bound to `d`), prints it.
# Empty input (the request before it failed and said why) fails quietly.
json() {
  python3 -c 'import json, sys
raw = sys.stdin.read()
if not raw.strip():
    sys.exit(1)
d = json.loads(raw)
print(eval(sys.argv[1]))' "$1"
}

# request CURL_ARGS...: prints the response body; on an HTTP error prints the error envelope on
# stderr instead and fails (curl exits 22 with --fail-with-body).
request() {
  local body
  if ! body=$(curl --silent --show-error --fail-with-body "$@"); then
    printf '%s\n' "$body" >&2  # the error envelope: error, code, trace_id, details
    return 1
  fi
  printf '%s\n' "$body"
}

# api METHOD PATH [curl args...]: one request with the guide's two headers.
api() {
  local method=$1 path=$2
  shift 2
  request -X "$method" "$API$path" -H "Authorization: Bearer $TOKEN" -H "X-Tenant-ID: $IMAGEFACTORY_TENANT" "$@" \
    || { echo "failed: $method $path" >&2; return 1; }
}

# post_json PATH BODY [curl args...]
post_json() {
  local path=$1 body=$2
  shift 2
  api POST "$path" -H 'Content-Type: application/json' -d "$body" "$@"
}

step "1. Authentication: POST /auth/login"
if [ -n "${IMAGEFACTORY_TOKEN:-}" ]; then
  TOKEN=$IMAGEFACTORY_TOKEN
  echo "using IMAGEFACTORY_TOKEN" >&2
else
  : "${IMAGEFACTORY_EMAIL:?set IMAGEFACTORY_TOKEN, or IMAGEFACTORY_EMAIL and IMAGEFACTORY_PASSWORD}"
  : "${IMAGEFACTORY_PASSWORD:?set IMAGEFACTORY_PASSWORD}"
  login_body=$(EMAIL=$IMAGEFACTORY_EMAIL PASSWORD=$IMAGEFACTORY_PASSWORD python3 -c \
    'import json, os; print(json.dumps({"email": os.environ["EMAIL"], "password": os.environ["PASSWORD"]}))')
  TOKEN=$(request -X POST "$API/auth/login" -H 'Content-Type: application/json' -d "$login_body" \
    | json 'd["access_token"]')
  echo "logged in as $IMAGEFACTORY_EMAIL" >&2
fi

step "Project: GET /projects?name=…, POST /projects if missing"
if [ -n "${IMAGEFACTORY_PROJECT:-}" ]; then
  PROJECT=$(api GET "/projects/$IMAGEFACTORY_PROJECT" | json 'd["id"]')
else
  PROJECT_NAME="${IMAGEFACTORY_PROJECT_NAME:-curl-example}"
  PROJECT=$(api GET /projects -G --data-urlencode "name=$PROJECT_NAME" \
    | json '(d["projects"] or [{"id": ""}])[0]["id"]')
  if [ -z "$PROJECT" ]; then
    : "${IMAGEFACTORY_REPOSITORY_URL:?no project named $PROJECT_NAME: set IMAGEFACTORY_REPOSITORY_URL to create it}"
    project_body=$(NAME=$PROJECT_NAME python3 -c 'import json, os; print(json.dumps({
        "name": os.environ["NAME"],
        "repository_url": os.environ["IMAGEFACTORY_REPOSITORY_URL"],
        "default_branch": os.environ.get("IMAGEFACTORY_BRANCH") or "main",
        "image_repository": os.environ.get("IMAGEFACTORY_IMAGE_REPOSITORY", ""),
    }))')
    PROJECT=$(post_json /projects "$project_body" | json 'd["id"]')
    echo "created project $PROJECT_NAME" >&2
  fi
fi
echo "project $PROJECT" >&2

step "2. Create a Build: POST /builds"
BUILD=$(post_json /builds "{\"project_id\": \"$PROJECT\", \"git_branch\": \"$BRANCH\"}" \
  -H "Idempotency-Key: curl-example-$(date +%s%N)" | json 'd["id"]')
echo "build $BUILD" >&2

step "Build details: GET /builds/{id}"
api GET "/builds/$BUILD" | json '"#%s %s on %s" % (d["build_number"], d["status"], d["git_branch"])'

step "3. Start a Build: POST /builds/{id}/start"
api POST "/builds/$BUILD/start" | json 'd["status"]'

step "4. Monitor Build Status: GET /builds/{id}/status until it ends"
deadline=$((SECONDS + TIMEOUT))
while :; do
  status=$(api GET "/builds/$BUILD/status" | json 'd["status"]')
  case $status in success | failed | cancelled) break ;; esac
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "build $BUILD still $status after ${TIMEOUT}s" >&2
    exit 1
  fi
  sleep 1
done
echo "status: $status" >&2

step "Logs: GET /builds/{id}/logs (a JSON page, then the whole log as text)"
api GET "/builds/$BUILD/logs?offset=0&limit=5" | json '"%s lines; first: %s" % (d["total_lines"], d["logs"][0]["message"])'
api GET "/builds/$BUILD/logs?format=text" | tail -n 5
# Live, over WebSocket (not curl): websocat "ws://HOST/api/v1/builds/$BUILD/logs/stream" \
#   -H "Authorization: Bearer $TOKEN" -H "X-Tenant-ID: $IMAGEFACTORY_TENANT"

if [ "$status" != success ]; then
  echo "build $BUILD ended $status" >&2
  exit 1
fi
api GET "/builds/$BUILD" | json '"image: %s@%s" % (d.get("image_reference"), d.get("image_digest"))'

step "List Builds with Filters: GET /builds?status=…&project_id=…"
api GET "/builds?status=success&project_id=$PROJECT&page=1&limit=20&sort_by=build_number&sort_order=desc" \
  | json '"%s successful builds of the project; newest #%s" % (d["total_count"], d["builds"][0]["build_number"])'

step "Cancel a Build: POST /builds/{id}/cancel (a second build, still queued)"
SECOND=$(post_json /builds "{\"project_id\": \"$PROJECT\", \"git_branch\": \"$BRANCH\"}" | json 'd["id"]')
post_json "/builds/$SECOND/cancel" '{"reason": "cancelled by curl-examples.sh"}' | json 'd["status"]'

step "Retry a Build: POST /builds/{id}/retry (a new queued build)"
RETRY=$(api POST "/builds/$SECOND/retry" | json 'd["id"]')
echo "retry $RETRY" >&2

step "Delete a Build: DELETE /builds/{id} (the retry, then the cancelled build)"
api DELETE "/builds/$RETRY" --output /dev/null --write-out '%{http_code}\n'
api DELETE "/builds/$SECOND" --output /dev/null --write-out '%{http_code}\n'

step "done: build $BUILD succeeded"
