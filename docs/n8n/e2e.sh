#!/usr/bin/env bash
# make n8n-e2e: the ready-to-import workflows of docs/n8n in a real n8n,
# against a local Meterflow, both completion modes end to end.
#
# Installs n8n from npm into a temporary folder (N8N_VERSION, default
# 1.123.81, the last line that runs on Node 20; a few minutes the first
# time, npm's cache makes it quick afterwards), starts its own Meterflow
# stack as `make run` does but on other ports and throw-away databases,
# starts n8n, creates its owner, an API key (scope execution:read, for the
# error workflow) and two credentials, imports docs/n8n/*.json through n8n's
# public API (filling in the placeholders the README tells a person to fill
# in), activates them, registers matching Meterflow workflows and runs:
#   response mode: a greeting (200, charged) and a refusal (422 → 502, free);
#   callback mode: a sync run settled by the workflow's own verdict (200,
#   charged), an async run (202, then succeeded), a run the workflow fails
#   (its Error Trigger workflow posts "failed": failed, free), a run whose
#   call carries a wrong signature (n8n refuses it: failed, free).
# Then it checks the wallet (charged once per succeeded run, nothing held).
# Not part of `make test`: it needs npm and minutes. KEEP=1 keeps the
# temporary folder and the databases for a look afterwards; N8N_INSTALL_DIR
# names a folder to install n8n into and keep (a second run then skips the
# install, which compiles isolated-vm).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

N8N_VERSION=${N8N_VERSION:-1.123.81}
pg_base=${MF_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}
redis_url=${REDIS_URL:-redis://127.0.0.1:6379/0}
GW=127.0.0.1:${E2E_GATEWAY_PORT:-18080}
N8N_PORT=${E2E_N8N_PORT:-15678}
N8N=http://127.0.0.1:$N8N_PORT
ID_ADDR=127.0.0.1:51051 WA_ADDR=127.0.0.1:51052 WF_ADDR=127.0.0.1:51053
tag=n8ne2e_$$
work=$(mktemp -d "${TMPDIR:-/tmp}/meterflow-n8n-e2e.XXXXXX")
logs=$work/logs
mkdir -p "$logs" "$work/bin"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
ok() { printf '    \033[32mok\033[0m  %s\n' "$*"; }
fail() {
	printf '\033[31mn8n-e2e: %s\033[0m\n' "$*" >&2
	printf 'logs: %s\n' "$logs" >&2
	exit 1
}
need() { command -v "$1" >/dev/null || fail "$1 is needed ($2)"; }
need node "Node.js 20, for n8n"
need npm "npm, to install n8n"
need jq "apt-get install jq"
need curl "apt-get install curl"
tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
for hp in "$GW" "$ID_ADDR" "$WA_ADDR" "$WF_ADDR" "127.0.0.1:$N8N_PORT"; do
	! tcp_open "${hp%:*}" "${hp##*:}" || fail "$hp is in use (set E2E_GATEWAY_PORT / E2E_N8N_PORT, or stop what listens there)"
done

pids=()
cleanup() {
	local code=$?
	trap - EXIT INT TERM
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ -n "${KEEP:-}" ] || [ "$code" != 0 ]; then
		echo "kept: $work (databases meterflow_${tag}_*)"
	else
		for svc in identity wallet workflow; do
			psql "$pg_base/postgres" -qc "DROP DATABASE IF EXISTS meterflow_${tag}_$svc WITH (FORCE)" >/dev/null 2>&1 || true
		done
		rm -rf "$work"
	fi
	exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start() { # NAME CMD...: in the background, logged
	local name=$1; shift
	"$@" >>"$logs/$name.log" 2>&1 &
	pids+=("$!")
}

wait_http() { # URL WHAT: until it answers 2xx (60 s)
	for _ in $(seq 600); do
		curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
		sleep 0.2
	done
	fail "$2 did not come up at $1"
}

# ---- Meterflow, as make run starts it, on its own ports and databases ----
say "building Meterflow"
go build -o "$work/bin/" ./gateway/cmd/gateway ./services/identity/cmd/identity ./services/wallet/cmd/wallet ./services/workflow/cmd/workflow
export APP_ENV=development REDIS_URL=$redis_url LOG_LEVEL=info METRICS_ADDR= COOKIE_SECURE=false
export INTERNAL_AUTH_SECRET=$(head -c 48 /dev/urandom | base64 -w0)
export WORKFLOW_SECRETS_KEY=$(head -c 32 /dev/urandom | base64 -w0)
export IDENTITY_ADDR=$ID_ADDR WALLET_ADDR=$WA_ADDR WORKFLOW_ADDR=$WF_ADDR
export WORKFLOW_ALLOW_PRIVATE=true # n8n listens on loopback
"$work/bin/identity" keygen --out "$work/jwt.pem" >/dev/null
export JWT_SIGNING_KEY_FILE=$work/jwt.pem
for svc in identity wallet workflow; do
	DATABASE_URL="$pg_base/meterflow_${tag}_$svc?sslmode=disable" "$work/bin/$svc" migrate >>"$logs/$svc.log" 2>&1 ||
		fail "migrating meterflow_${tag}_$svc failed (is Postgres up? MF_POSTGRES_URL)"
done
start identity env GRPC_ADDR=$ID_ADDR DATABASE_URL="$pg_base/meterflow_${tag}_identity?sslmode=disable" "$work/bin/identity" serve
start wallet env GRPC_ADDR=$WA_ADDR DATABASE_URL="$pg_base/meterflow_${tag}_wallet?sslmode=disable" "$work/bin/wallet" serve
start workflow env GRPC_ADDR=$WF_ADDR DATABASE_URL="$pg_base/meterflow_${tag}_workflow?sslmode=disable" \
	PUBLIC_BASE_URL=http://$GW "$work/bin/workflow" serve
start gateway env HTTP_ADDR=$GW ADMIN_ADDR= RATE_LIMIT_REDIS_PREFIX="meterflow:$tag:" RATE_LIMIT_RUNS_PER_MINUTE=100 "$work/bin/gateway" serve
wait_http "http://$GW/readyz" "the Meterflow gateway"
ok "Meterflow on http://$GW"

API=http://$GW/v1
admin_email=ops-$tag@example.com
printf '%s\n' 'e2e admin password' | DATABASE_URL="$pg_base/meterflow_${tag}_identity?sslmode=disable" \
	"$work/bin/identity" create-admin --email "$admin_email" >>"$logs/identity.log" 2>&1
mf() { # METHOD PATH TOKEN [BODY] -> "status body"
	local args=(-sS -o "$work/body" -w '%{http_code}' -X "$1" "$API$2" -H "Authorization: Bearer $3")
	[ -n "${4:-}" ] && args+=(-H 'Content-Type: application/json' -d "$4")
	local status
	status=$(curl "${args[@]}")
	printf '%s %s' "$status" "$(cat "$work/body")"
}
expect() { # WANT "status body" WHAT -> body
	local status=${2%% *} body=${2#* }
	[ "$status" = "$1" ] || fail "$3: HTTP $status, want $1: $body"
	printf '%s' "$body"
}
ADMIN=$(curl -sS -X POST "$API/auth/login" -H 'Content-Type: application/json' \
	-d "{\"email\":\"$admin_email\",\"password\":\"e2e admin password\"}" | jq -r .access_token)
signup=$(curl -sS -X POST "$API/auth/signup" -H 'Content-Type: application/json' \
	-d "{\"email\":\"user-$tag@example.com\",\"password\":\"e2e user password\"}")
USER=$(jq -r .access_token <<<"$signup")
USER_ID=$(jq -r .user.id <<<"$signup")
expect 201 "$(curl -sS -o "$work/body" -w '%{http_code}' -X POST "$API/admin/users/$USER_ID/adjustments" \
	-H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' -H "Idempotency-Key: e2e-credit" \
	-d '{"amount_cents":1000,"reason":"n8n e2e credit"}') $(cat "$work/body")" "crediting the user" >/dev/null
ok "an admin, and a user with \$10.00"

# ---- n8n ----
n8n_dir=${N8N_INSTALL_DIR:-$work/n8n}
mkdir -p "$n8n_dir"
n8n_bin=$n8n_dir/node_modules/.bin/n8n
if [ -x "$n8n_bin" ] && [ "$("$n8n_bin" --version 2>/dev/null | tail -1)" = "$N8N_VERSION" ]; then
	say "n8n $N8N_VERSION already installed in $n8n_dir"
else
say "installing n8n $N8N_VERSION from npm into $n8n_dir (minutes the first time)"
cat >"$n8n_dir/package.json" <<JSON
{
  "name": "meterflow-n8n-e2e",
  "private": true,
  "dependencies": { "n8n": "$N8N_VERSION" },
  "overrides": { "isolated-vm": "5.0.4", "xlsx": "0.18.5" }
}
JSON
(cd "$n8n_dir" && npm install --no-audit --no-fund --loglevel=error >>"$logs/npm.log" 2>&1) ||
	fail "npm install of n8n $N8N_VERSION failed; see $logs/npm.log"
fi
ok "n8n $("$n8n_bin" --version 2>/dev/null | tail -1)"

say "starting n8n on $N8N"
export N8N_USER_FOLDER=$work/n8n-home N8N_PORT N8N_LISTEN_ADDRESS=127.0.0.1 N8N_HOST=127.0.0.1 N8N_PROTOCOL=http
export WEBHOOK_URL=$N8N/ N8N_ENCRYPTION_KEY=$(head -c 24 /dev/urandom | base64 -w0)
export N8N_DIAGNOSTICS_ENABLED=false N8N_VERSION_NOTIFICATIONS_ENABLED=false N8N_TEMPLATES_ENABLED=false
export N8N_PERSONALIZATION_ENABLED=false N8N_SECURE_COOKIE=false N8N_RUNNERS_ENABLED=false
export N8N_DEFAULT_BINARY_DATA_MODE=default EXECUTIONS_DATA_SAVE_ON_ERROR=all DB_SQLITE_POOL_SIZE=2
start n8n "$n8n_bin" start
# /healthz answers at once; /healthz/readiness once n8n's database is
# migrated (every route answers "n8n is starting up" until then); the REST
# API after that.
wait_http "$N8N/healthz/readiness" "n8n"
for _ in $(seq 600); do
	curl -fsS "$N8N/rest/settings" 2>/dev/null | jq -e '.data' >/dev/null 2>&1 && break
	sleep 0.2
done
ok "n8n is up"

# The owner, then an API key that may only read executions (the error
# workflow reads the failed execution's callback URL with it).
jar=$work/n8n-cookies
rest() { # METHOD PATH [BODY]
	curl -sS -b "$jar" -c "$jar" -X "$1" "$N8N/rest$2" -H 'browser-id: meterflow-n8n-e2e' \
		-H 'Content-Type: application/json' ${3:+-d "$3"}
}
rest POST /owner/setup '{"email":"owner@example.com","firstName":"Meterflow","lastName":"E2E","password":"Meterflow-e2e-1"}' >"$work/owner.json"
jq -e '.data.id' "$work/owner.json" >/dev/null || fail "n8n owner setup: $(cat "$work/owner.json")"
rest POST /api-keys '{"label":"meterflow error workflow","scopes":["execution:read"],"expiresAt":null}' >"$work/apikey.json"
N8N_API_KEY=$(jq -r '.data.rawApiKey // empty' "$work/apikey.json")
[ -n "$N8N_API_KEY" ] || fail "n8n API key: $(cat "$work/apikey.json")"
pub() { # METHOD PATH [BODY]: n8n's public API
	curl -sS -X "$1" "$N8N/api/v1$2" -H "X-N8N-API-KEY: $N8N_API_KEY" -H 'Content-Type: application/json' ${3:+-d "$3"}
}
# The public API key above may only read executions; creating credentials
# and workflows takes a second key with the owner's scopes.
scopes=$(rest GET /api-keys/scopes | jq -c '.data')
# (Keys are JWTs: an expiry makes this one differ from the first even when
# both are made in the same second, which n8n would refuse as a duplicate.)
rest POST /api-keys "{\"label\":\"meterflow e2e setup\",\"scopes\":$scopes,\"expiresAt\":$(($(date +%s) + 3600))}" >"$work/setupkey.json"
ADMIN_KEY=$(jq -r '.data.rawApiKey // empty' "$work/setupkey.json")
[ -n "$ADMIN_KEY" ] || fail "n8n setup API key (scopes $scopes): $(cat "$work/setupkey.json")"
setup() { # METHOD PATH [BODY]
	curl -sS -X "$1" "$N8N/api/v1$2" -H "X-N8N-API-KEY: $ADMIN_KEY" -H 'Content-Type: application/json' ${3:+-d "$3"}
}

say "credentials and workflows (docs/n8n/*.json)"
HEADER_VALUE=$(head -c 24 /dev/urandom | base64 -w0 | tr '+/' '-_')
hdr_id=$(setup POST /credentials "$(jq -n --arg v "$HEADER_VALUE" \
	'{name:"Meterflow header",type:"httpHeaderAuth",data:{name:"X-Meterflow-Key",value:$v}}')" | jq -r '.id // empty')
api_id=$(setup POST /credentials "$(jq -n --arg k "$N8N_API_KEY" --arg u "$N8N/api/v1" \
	'{name:"n8n API (executions:read)",type:"n8nApi",data:{apiKey:$k,baseUrl:$u}}')" | jq -r '.id // empty')
[ -n "$hdr_id" ] && [ -n "$api_id" ] || fail "creating the n8n credentials"

# The signing key is printable text (hex), so that n8n's Crypto node can use
# it as is; Meterflow's signing_secret is whsec_ + its base64.
SIGNING_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
SIGNING_SECRET=whsec_$(printf %s "$SIGNING_KEY" | base64 -w0)
import() { # FILE ERROR_WORKFLOW_ID ACTIVATE -> workflow id (created, and activated if ACTIVATE)
	local body id
	body=$(sed -e "s/REPLACE_WITH_HEADER_AUTH_CREDENTIAL_ID/$hdr_id/" -e "s/REPLACE_WITH_N8N_API_CREDENTIAL_ID/$api_id/" \
		-e "s/REPLACE_WITH_SIGNING_KEY/$SIGNING_KEY/" -e "s/REPLACE_WITH_ERROR_WORKFLOW_ID/$2/" \
		-e "s#https://api.example.com/v1/callbacks/runs/#http://$GW/v1/callbacks/runs/#" "docs/n8n/$1" |
		jq '{name, nodes, connections, settings}')
	id=$(setup POST /workflows "$body" | jq -r '.id // empty')
	[ -n "$id" ] || fail "importing docs/n8n/$1: $(setup POST /workflows "$body")"
	if [ "$3" != activate ]; then
		printf '%s' "$id"
		return
	fi
	setup POST "/workflows/$id/activate" >"$work/activate.json"
	jq -e '.active == true' "$work/activate.json" >/dev/null || fail "activating docs/n8n/$1: $(cat "$work/activate.json")"
	printf '%s' "$id"
}
# An error workflow is not activated (n8n refuses: it has no trigger of its
# own); the workflows that name it in their settings start it.
err_id=$(import callback-errors.json "" no)
ok "callback-errors.json: workflow $err_id (Error Trigger)"
import response-mode.json "" activate >/dev/null
ok "response-mode.json: POST $N8N/webhook/meterflow-greet"
import callback-mode.json "$err_id" activate >/dev/null
ok "callback-mode.json: POST $N8N/webhook/meterflow-crm (error workflow $err_id)"

# ---- Meterflow workflows pointing at them ----
register() { # SLUG PATH COMPLETION SIGNING_SECRET
	local body
	body=$(jq -n --arg slug "$1" --arg url "$N8N/webhook/$2" --arg c "$3" --arg s "$4" --arg v "$HEADER_VALUE" \
		'{slug:$slug,name:$slug,webhook_url:$url,auth_header_name:"X-Meterflow-Key",auth_header_value:$v,
		  fee_cents:10,timeout_ms:15000,completion:$c,callback_timeout_ms:120000,active:true}
		 + (if $s == "" then {} else {signing_secret:$s} end)')
	expect 201 "$(mf POST /admin/workflows "$ADMIN" "$body")" "registering $1" >/dev/null
}
register n8n-greet meterflow-greet response ""
register n8n-crm meterflow-crm callback "$SIGNING_SECRET"
WRONG_SECRET=whsec_$(printf %s "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" | base64 -w0)
register n8n-crm-wrong-secret meterflow-crm callback "$WRONG_SECRET"
ok "Meterflow workflows n8n-greet (response), n8n-crm and n8n-crm-wrong-secret (callback)"

run() { # SLUG INPUT [async] -> "status body"
	local q=""
	[ "${3:-}" = async ] && q="?async=true"
	mf POST "/workflows/$1/runs$q" "$USER" "{\"input\":$2}"
}
wait_run() { # ID WANT_STATUS -> run JSON
	local r
	for _ in $(seq 150); do
		r=$(expect 200 "$(mf GET "/runs/$1" "$USER")" "GET run $1")
		[ "$(jq -r .status <<<"$r")" = "$2" ] && { printf '%s' "$r"; return 0; }
		sleep 0.2
	done
	fail "run $1 did not become $2: $r"
}
check() { # JSON JQ_FILTER WHAT
	jq -e "$2" >/dev/null <<<"$1" || fail "$3: $1"
}

say "response mode"
r=$(expect 200 "$(run n8n-greet '{"name":"ada"}')" "greeting (sync)")
check "$r" '.status == "succeeded" and .charged_cents == 10 and .output.greeting == "hello ada"' "greeting"
ok "200 succeeded, charged 10: $(jq -c .output <<<"$r")"
r=$(expect 502 "$(run n8n-greet '{}')" "greeting without a name")
check "$r" '.code == "workflow_failed" and .run.charged_cents == 0 and .run.error == "n8n answered 422"' "refused greeting"
ok "502 workflow_failed (n8n answered 422), charged 0"

say "callback mode"
r=$(expect 200 "$(run n8n-crm '{"lead":"ada"}')" "callback run (sync)")
check "$r" '.status == "succeeded" and .charged_cents == 10 and .output.lead == "ada" and (.output.crm_id | startswith("crm-"))' "callback sync run"
ok "sync: 200 succeeded on the workflow's verdict, charged 10: $(jq -c .output <<<"$r")"
id=$(jq -r .id <<<"$(expect 202 "$(run n8n-crm '{"lead":"bob"}' async)" "callback run (async)")")
r=$(wait_run "$id" succeeded)
check "$r" '.charged_cents == 10 and .output.lead == "bob"' "callback async run"
ok "async: 202, then succeeded on the verdict, charged 10"
id=$(jq -r .id <<<"$(expect 202 "$(run n8n-crm '{}' async)" "callback run without a lead")")
r=$(wait_run "$id" failed)
check "$r" '.charged_cents == 0 and .error == "input.lead is required"' "failed callback run"
ok "a run the workflow fails: the Error Trigger workflow posted failed (\"input.lead is required\"), charged 0"
id=$(jq -r .id <<<"$(expect 202 "$(run n8n-crm-wrong-secret '{"lead":"eve"}' async)" "run signed with the wrong secret")")
r=$(wait_run "$id" failed)
check "$r" '.charged_cents == 0 and (.error | startswith("signature check failed"))' "wrongly signed run"
ok "a call signed with another secret: n8n's signature check refused it, run failed, charged 0"

say "money"
w=$(expect 200 "$(mf GET /wallet "$USER")" "wallet")
check "$w" '.balance_cents == 970 and .held_cents == 0' "wallet after 3 succeeded runs"
fees=$(expect 200 "$(mf GET '/wallet/transactions?kind=fee' "$USER")" "fees")
check "$fees" '(.items | length) == 3' "fee rows"
waiting=$(expect 200 "$(mf GET '/admin/runs?awaiting_callback=true' "$ADMIN")" "waiting runs")
check "$waiting" '(.items | length) == 0' "runs still waiting for a verdict"
ok "balance 970 (3 fees of 10, one each), nothing held, no run waiting for a verdict"
say "n8n-e2e passed: both completion modes work in n8n $N8N_VERSION"
