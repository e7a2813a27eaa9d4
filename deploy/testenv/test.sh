#!/usr/bin/env bash
# The project's test command: starts the real components the integration
# tests use on loopback (no Docker), runs `go test`, and stops them again.
#
# Usage: deploy/testenv/test.sh [go test flags] [packages]
#
#   deploy/testenv/test.sh                                  # go test ./...
#   deploy/testenv/test.sh -count=1 -run 'S3|Local' ./deltawriter/objstore/...
#
# Arguments that look like package patterns (".", "./x", "../x", "./...",
# "github.com/sluice-io/sluice/...") replace the default ./...; everything
# else is passed to go test as flags. Patterns are relative to the repository
# root (the script cd's there). A flag's value must be joined with '=' if it
# could itself look like a package pattern (e.g. -coverprofile=./c.out).
#
# Cached, and reused across runs, under ${SLUICE_CACHE:-$HOME/.cache/sluice}:
#   bin/minio  MinIO built with `go install` (first time ~5 min on 2 cores)
#   venv/      Python venv from deploy/testenv/requirements.txt, reinstalled
#              when that file changes (its hash is kept in the venv)
#   logs/      the last run's component logs
#
# Exported to the tests (read them through the Go package deploy/testenv):
#   SLUICE_TEST_S3_ENDPOINT, SLUICE_TEST_S3_ACCESS_KEY, SLUICE_TEST_S3_SECRET_KEY,
#   SLUICE_TEST_S3_REGION, SLUICE_TEST_KMS_KEY_ID, SLUICE_TEST_MINIO_PID,
#   SLUICE_TEST_PYTHON
#
# Each component is a pair of functions, ensure_X (install, cached) and
# start_X (run for this test run, registering its stop function with
# on_cleanup); add new ones to main.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${SLUICE_CACHE:-$HOME/.cache/sluice}
MINIO_MODULE=github.com/minio/minio
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
REQUIREMENTS=$ROOT/deploy/testenv/requirements.txt
BASE_PYTHON=${SLUICE_BASE_PYTHON:-python3}

log() { printf 'testenv: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# --- cleanup -----------------------------------------------------------------

CLEANUPS=()
# on_cleanup CMD... registers a command to run at exit (last registered first).
on_cleanup() { CLEANUPS+=("$*"); }
run_cleanups() {
	local i
	for ((i = ${#CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${CLEANUPS[i]}" || true
	done
	CLEANUPS=()
}
trap run_cleanups EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# with_lock NAME CMD... runs CMD holding $CACHE/NAME.lock, so concurrent runs
# do not install the same thing twice.
with_lock() {
	local name=$1
	shift
	mkdir -p "$CACHE"
	(
		flock 9
		"$@"
	) 9>"$CACHE/$name.lock"
}

random_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

free_port() {
	"$SLUICE_TEST_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- MinIO -------------------------------------------------------------------

MINIO_BIN=$CACHE/bin/minio

install_minio() {
	local stamp=$CACHE/bin/minio.version
	if [[ -x $MINIO_BIN ]] && { [[ ! -f $stamp ]] || [[ $(cat "$stamp") == "$MINIO_VERSION" ]]; }; then
		echo "$MINIO_VERSION" >"$stamp"
		return
	fi
	log "building MinIO $MINIO_VERSION into $CACHE/bin (takes ~5 minutes the first time)"
	mkdir -p "$CACHE/bin"
	(cd "$CACHE" && GOBIN=$CACHE/bin GOFLAGS= go install "$MINIO_MODULE@$MINIO_VERSION") ||
		die "go install $MINIO_MODULE@$MINIO_VERSION failed (it needs the Go module proxy)"
	echo "$MINIO_VERSION" >"$stamp"
}

ensure_minio() { with_lock minio-install install_minio; }

start_minio() {
	MINIO_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sluice-minio.XXXXXX")
	on_cleanup stop_minio
	local user pass kms port cport attempt i
	user=sluice$(random_hex 8)
	pass=$(random_hex 24)
	kms="sluice-test-key:$(head -c 32 /dev/urandom | base64)"
	for attempt in 1 2 3; do
		port=$(free_port)
		cport=$(free_port)
		rm -rf "$MINIO_DIR/data"
		# Secrets go through the environment, never the command line.
		MINIO_ROOT_USER=$user MINIO_ROOT_PASSWORD=$pass MINIO_KMS_SECRET_KEY=$kms \
			MINIO_BROWSER=off MINIO_UPDATE=off MINIO_CI_CD=1 \
			"$MINIO_BIN" server --quiet --address "127.0.0.1:$port" \
			--console-address "127.0.0.1:$cport" "$MINIO_DIR/data" \
			>"$MINIO_DIR/minio.log" 2>&1 &
		MINIO_PID=$!
		for ((i = 0; i < 150; i++)); do
			if ! kill -0 "$MINIO_PID" 2>/dev/null; then
				break
			fi
			if curl -fsS -o /dev/null "http://127.0.0.1:$port/minio/health/live" 2>/dev/null; then
				export SLUICE_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
				export SLUICE_TEST_S3_ACCESS_KEY=$user
				export SLUICE_TEST_S3_SECRET_KEY=$pass
				export SLUICE_TEST_S3_REGION=us-east-1
				export SLUICE_TEST_KMS_KEY_ID=sluice-test-key
				export SLUICE_TEST_MINIO_PID=$MINIO_PID
				log "MinIO ready at $SLUICE_TEST_S3_ENDPOINT (pid $MINIO_PID)"
				return
			fi
			sleep 0.2
		done
		log "MinIO did not become ready (attempt $attempt); log:"
		tail -n 20 "$MINIO_DIR/minio.log" >&2 || true
		kill_minio
	done
	die "could not start MinIO; see the log above"
}

kill_minio() {
	[[ -n ${MINIO_PID:-} ]] || return 0
	# A test may have paused it.
	kill -CONT "$MINIO_PID" 2>/dev/null || true
	kill -TERM "$MINIO_PID" 2>/dev/null || true
	local i
	for ((i = 0; i < 50; i++)); do
		kill -0 "$MINIO_PID" 2>/dev/null || break
		sleep 0.2
	done
	kill -KILL "$MINIO_PID" 2>/dev/null || true
	wait "$MINIO_PID" 2>/dev/null || true
	MINIO_PID=
}

stop_minio() {
	kill_minio
	if [[ -n ${MINIO_DIR:-} ]]; then
		mkdir -p "$CACHE/logs"
		cp "$MINIO_DIR/minio.log" "$CACHE/logs/minio.log" 2>/dev/null || true
		rm -rf "$MINIO_DIR"
	fi
}

# --- Python venv -------------------------------------------------------------

VENV=$CACHE/venv

install_venv() {
	local want stamp=$VENV/.sluice-requirements.sha256
	want=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
	if [[ -x $VENV/bin/python && -f $stamp && $(cat "$stamp") == "$want" ]]; then
		return
	fi
	if [[ -f $stamp ]]; then
		# Requirements changed: start clean so dropped packages go too.
		log "$REQUIREMENTS changed; recreating $VENV"
		rm -rf "$VENV"
	fi
	if [[ ! -x $VENV/bin/python ]]; then
		log "creating Python venv in $VENV"
		rm -rf "$VENV"
		"$BASE_PYTHON" -m venv "$VENV" || die "$BASE_PYTHON -m venv failed (set SLUICE_BASE_PYTHON to a Python 3.10+ with venv)"
	fi
	log "installing $REQUIREMENTS into $VENV"
	"$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$REQUIREMENTS" ||
		die "pip install -r $REQUIREMENTS failed"
	echo "$want" >"$stamp"
}

ensure_venv() {
	with_lock venv install_venv
	export SLUICE_TEST_PYTHON=$VENV/bin/python
}

# --- tests -------------------------------------------------------------------

run_go_tests() {
	local flags=() pkgs=() prev_takes_value=
	local a
	for a in "$@"; do
		if [[ -n $prev_takes_value ]]; then
			flags+=("$a")
			prev_takes_value=
			continue
		fi
		case $a in
		. | .. | ./* | ../* | github.com/sluice-io/sluice | github.com/sluice-io/sluice/*) pkgs+=("$a") ;;
		-run | -skip | -bench | -benchtime | -count | -cpu | -timeout | -parallel | -p | -coverprofile | \
			-coverpkg | -covermode | -o | -tags | -fuzz | -fuzztime | -list | -shuffle | -outputdir | -exec | \
			-cpuprofile | -memprofile | -blockprofile | -mutexprofile | -trace | -ldflags | -gcflags)
			flags+=("$a")
			prev_takes_value=1
			;;
		*) flags+=("$a") ;;
		esac
	done
	[[ ${#pkgs[@]} -gt 0 ]] || pkgs=(./...)
	log "go test ${flags[*]+${flags[*]} }${pkgs[*]}"
	local rc=0
	go test "${flags[@]}" "${pkgs[@]}" || rc=$?
	return "$rc"
}

main() {
	cd "$ROOT"
	command -v go >/dev/null || die "go is not on PATH"
	ensure_venv
	ensure_minio
	start_minio
	run_go_tests "$@"
}

main "$@"
