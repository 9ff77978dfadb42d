#!/usr/bin/env bash
# make run: the whole stack on this machine, for development.
#
# Needs Postgres and Redis reachable (defaults: 127.0.0.1:5432 as user
# postgres, 127.0.0.1:6379). Creates and migrates the four databases, keeps
# development secrets under .local/ (git-ignored), starts stripe-mock when no
# STRIPE_SECRET_KEY is set and Mailpit (the local mail catcher: SMTP on
# 127.0.0.1:1025, inbox on http://127.0.0.1:8025) when no SMTP_URL is set,
# starts identity, wallet, workflow, notify and the gateway, waits until the
# gateway is ready, prints the URLs, and stops everything on Ctrl-C. Logs go
# to .local/logs/<process>.log.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
state=$root/.local
logs=$state/logs
mkdir -p "$logs"
chmod 700 "$state"

pg_base=${MF_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}
redis_url=${REDIS_URL:-redis://127.0.0.1:6379/0}

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
fail() { printf '\033[31mmake run: %s\033[0m\n' "$*" >&2; exit 1; }

# tcp_open HOST PORT: true if something accepts connections there.
tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

hostport() { # URL -> "host port" (default port $2)
	local rest=${1#*://}; rest=${rest#*@}; rest=${rest%%/*}; rest=${rest%%\?*}
	local host=${rest%:*} port=${rest##*:}
	[ "$host" = "$rest" ] && port=$2
	echo "$host $port"
}

read -r pg_host pg_port <<<"$(hostport "$pg_base" 5432)"
tcp_open "$pg_host" "$pg_port" || fail "cannot reach Postgres at $pg_host:$pg_port. Start it (Debian: pg_ctlcluster 15 main start) or set MF_POSTGRES_URL=postgres://user:pass@host:port"
read -r redis_host redis_port <<<"$(hostport "$redis_url" 6379)"
if ! pong=$(exec 3<>"/dev/tcp/$redis_host/$redis_port" && printf 'PING\r\n' >&3 && timeout 2 head -c 7 <&3) 2>/dev/null || [[ "$pong" != "+PONG"* ]]; then
	fail "cannot reach Redis at $redis_host:$redis_port. Start it (redis-server --daemonize yes) or set REDIS_URL=redis://host:port/0"
fi

# Development secrets, generated once and kept.
[ -s "$state/internal-auth-secret" ] || head -c 48 /dev/urandom | base64 -w0 >"$state/internal-auth-secret"
[ -s "$state/workflow-secrets-key" ] || head -c 32 /dev/urandom | base64 -w0 >"$state/workflow-secrets-key"
[ -s "$state/webhook-secrets-key" ] || head -c 32 /dev/urandom | base64 -w0 >"$state/webhook-secrets-key"
[ -s "$state/jwt-ed25519.pem" ] || bin/identity keygen --out "$state/jwt-ed25519.pem"
chmod 600 "$state"/internal-auth-secret "$state"/workflow-secrets-key "$state"/webhook-secrets-key "$state"/jwt-ed25519.pem

export APP_ENV=${APP_ENV:-development}
export INTERNAL_AUTH_SECRET=$(cat "$state/internal-auth-secret")
export WORKFLOW_SECRETS_KEY=${WORKFLOW_SECRETS_KEY:-$(cat "$state/workflow-secrets-key")}
export WEBHOOK_SECRETS_KEY=${WEBHOOK_SECRETS_KEY:-$(cat "$state/webhook-secrets-key")}
export JWT_SIGNING_KEY_FILE=$state/jwt-ed25519.pem
export REDIS_URL=$redis_url
# The console is served over plain http://127.0.0.1 here: no Secure cookie flag.
export COOKIE_SECURE=${COOKIE_SECURE:-false}
export WORKFLOW_ALLOW_PRIVATE=${WORKFLOW_ALLOW_PRIVATE:-true} # local n8n on loopback or a private address
export WEBHOOK_ALLOW_PRIVATE=${WEBHOOK_ALLOW_PRIVATE:-true}   # webhook receivers on this machine (deploy/local/webhook-receiver)

for svc in identity wallet workflow notify; do
	say "migrating meterflow_$svc"
	DATABASE_URL="$pg_base/meterflow_$svc?sslmode=disable" "bin/$svc" migrate >>"$logs/$svc.log" 2>&1 ||
		fail "migrating meterflow_$svc failed; see $logs/$svc.log"
done

pids=()
names=()
stop() {
	trap - INT TERM EXIT
	say "stopping"
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap stop EXIT
trap 'exit 130' INT TERM

start() { # NAME ENV... -- CMD...
	local name=$1; shift
	local envs=()
	while [ "$1" != "--" ]; do envs+=("$1"); shift; done
	shift
	env "${envs[@]}" "$@" >>"$logs/$name.log" 2>&1 &
	pids+=("$!")
	names+=("$name")
}

if [ -z "${STRIPE_SECRET_KEY:-}" ]; then
	if tcp_open 127.0.0.1 12111; then
		say "stripe-mock already listening on 127.0.0.1:12111"
	else
		say "starting stripe-mock (no STRIPE_SECRET_KEY set)"
		(cd services/wallet && go build -o "$root/bin/stripe-mock" github.com/stripe/stripe-mock)
		start stripe-mock -- bin/stripe-mock -http-port 12111 -https-port 12112
		for _ in $(seq 50); do tcp_open 127.0.0.1 12111 && break; sleep 0.2; done
		tcp_open 127.0.0.1 12111 || fail "stripe-mock did not start; see $logs/stripe-mock.log"
	fi
	export STRIPE_API_BASE=http://127.0.0.1:12111
fi

mail_inbox="(SMTP_URL is set: emails go to your server)"
if [ -z "${SMTP_URL:-}" ]; then
	mail_inbox="http://127.0.0.1:8025   (Mailpit: every email the stack sends)"
	if tcp_open 127.0.0.1 1025; then
		say "something already listens on 127.0.0.1:1025; using it as the SMTP server (Mailpit?)"
	else
		say "starting Mailpit (no SMTP_URL set); the first build takes a minute"
		# Its own module, outside go.work: its dependencies stay out of ours.
		(cd deploy/local/mailpit && GOWORK=off go build -o "$root/bin/mailpit" github.com/axllent/mailpit)
		start mailpit -- bin/mailpit --smtp 127.0.0.1:1025 --listen 127.0.0.1:8025 \
			--database "$state/mailpit.db" --disable-version-check
		for _ in $(seq 50); do tcp_open 127.0.0.1 1025 && break; sleep 0.2; done
		tcp_open 127.0.0.1 1025 || fail "Mailpit did not start; see $logs/mailpit.log"
	fi
	export SMTP_URL=smtp://127.0.0.1:1025
fi

say "starting identity, wallet, workflow, notify, gateway (logs in $logs)"
start identity DATABASE_URL="$pg_base/meterflow_identity?sslmode=disable" -- bin/identity serve
start wallet DATABASE_URL="$pg_base/meterflow_wallet?sslmode=disable" -- bin/wallet serve
start workflow DATABASE_URL="$pg_base/meterflow_workflow?sslmode=disable" -- bin/workflow serve
start notify DATABASE_URL="$pg_base/meterflow_notify?sslmode=disable" -- bin/notify serve
start gateway -- bin/gateway serve

gateway=http://${HTTP_ADDR:-127.0.0.1:8080}
ready=""
for _ in $(seq 100); do
	for i in "${!pids[@]}"; do
		if ! kill -0 "${pids[$i]}" 2>/dev/null; then
			tail -n 20 "$logs/${names[$i]}.log" >&2
			fail "${names[$i]} exited during start; see $logs/${names[$i]}.log"
		fi
	done
	if status=$(bin/gateway healthcheck 2>/dev/null); then ready=1; break; fi
	sleep 0.2
done
[ -n "$ready" ] || fail "the gateway did not become ready in 20 s; see $logs/*.log"

cat <<MSG

  Meterflow is running.
    API            $gateway/v1   (try: curl -s $gateway/readyz)
    API docs       $gateway/docs   (OpenAPI: $gateway/openapi.json)
    Admin console  $gateway/admin   (make an admin: make admin EMAIL=ops@example.com)
    Mail inbox     $mail_inbox
    Metrics        http://${ADMIN_ADDR:-127.0.0.1:9090}/metrics (gateway), :9091 identity, :9092 wallet, :9093 workflow, :9094 notify
    Logs           $logs/

  Ctrl-C stops everything.
MSG
wait -n "${pids[@]}" || true
fail "a process stopped unexpectedly; see $logs/"
