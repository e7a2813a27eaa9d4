#!/usr/bin/env bash
# The project's test command: starts the real components the integration
# tests use on loopback (no Docker), runs `go test`, and stops them again:
# a MinIO server, an Apache Kafka broker (KRaft, one node that is broker and
# controller), a PostgreSQL server and a Python venv. Needs go, java 17+ and mvn on PATH.
#
# Usage: deploy/testenv/test.sh [go test flags] [packages]
#
#   deploy/testenv/test.sh                                  # go test ./..., then
#                                                           # go test -race -short on
#                                                           # RACE_PKGS (below)
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
#   venv-spark/  a second venv, Apache Spark and delta-spark from
#              deploy/testenv/requirements-spark.txt (first time ~1 min)
#   spark-ivy/ Spark's Ivy cache: the delta-spark jars from Maven Central,
#              fetched by the first Spark oracle run (~8 MB, seconds)
#   kafka-VERSION/libs/   the broker's jars, copied from ~/.m2 by
#              `mvn dependency:copy-dependencies` on deploy/testenv/kafka/pom.xml
#              (first time ~1 min with an empty ~/.m2), redone when the pom
#              changes (its hash is kept in kafka-VERSION/pom.sha256)
#   kafka-VERSION/kafka.jsa   JVM class archive the first broker run dumps,
#              making later starts faster
#   postgres/template  a PostgreSQL cluster made by initdb (locale C, UTF-8),
#              copied for each run; the server binaries come from Debian's
#              postgresql package, installed with apt-get when missing
#   logs/      the last run's component logs (minio.log, kafka.log, kafka.out,
#              postgres.log)
#
# Exported to the tests (read them through the Go package deploy/testenv):
#   SLUICE_TEST_S3_ENDPOINT, SLUICE_TEST_S3_ACCESS_KEY, SLUICE_TEST_S3_SECRET_KEY,
#   SLUICE_TEST_S3_REGION, SLUICE_TEST_KMS_KEY_ID, SLUICE_TEST_MINIO_PID,
#   SLUICE_TEST_MINIO_BIN,
#   SLUICE_TEST_KAFKA_BROKERS (127.0.0.1:PORT, PLAINTEXT; topics are not
#   auto-created), SLUICE_TEST_KAFKA_PID,
#   SLUICE_TEST_POSTGRES (postgres://sluice:PASSWORD@127.0.0.1:PORT/postgres,
#   a superuser with a new password each run; tests make a database each),
#   SLUICE_TEST_POSTGRES_PID,
#   SLUICE_TEST_PYTHON, SLUICE_TEST_SPARK_PYTHON, SLUICE_TEST_SPARK_IVY,
#   DOCKER_HOST (unix socket of this run's podman Docker API service),
#   SLUICE_TEST_COMPOSE (the Docker Compose binary), SLUICE_TEST_PODMAN
#
# Containers (deploy/container/setup.sh, cached under $CACHE/containers):
# podman, runc and mmdebstrap from apt, Docker Compose built from the Go
# module proxy, Debian base images built with mmdebstrap, and stand-ins for
# the images docker-compose.yml names, built from the Kafka jars and the
# MinIO binary above (first time ~10 min).
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
	(cd "$CACHE" && GOBIN=$CACHE/bin GOFLAGS='' go install "$MINIO_MODULE@$MINIO_VERSION") ||
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
				# Tests that must pause storage start a private server from it.
				export SLUICE_TEST_MINIO_BIN=$MINIO_BIN
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
SPARK_VENV=$CACHE/venv-spark
SPARK_REQUIREMENTS=$ROOT/deploy/testenv/requirements-spark.txt

# install_venv DIR REQUIREMENTS: the venv at DIR with exactly REQUIREMENTS.
install_venv() {
	local venv=$1 reqs=$2 want stamp=$1/.sluice-requirements.sha256
	want=$(sha256sum "$reqs" | cut -d' ' -f1)
	if [[ -x $venv/bin/python && -f $stamp && $(cat "$stamp") == "$want" ]]; then
		return
	fi
	if [[ -f $stamp ]]; then
		# Requirements changed: start clean so dropped packages go too.
		log "$reqs changed; recreating $venv"
		rm -rf "$venv"
	fi
	if [[ ! -x $venv/bin/python ]]; then
		log "creating Python venv in $venv"
		rm -rf "$venv"
		"$BASE_PYTHON" -m venv "$venv" || die "$BASE_PYTHON -m venv failed (set SLUICE_BASE_PYTHON to a Python 3.10+ with venv)"
	fi
	log "installing $reqs into $venv"
	"$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$reqs" ||
		die "pip install -r $reqs failed"
	echo "$want" >"$stamp"
}

ensure_venv() {
	with_lock venv install_venv "$VENV" "$REQUIREMENTS"
	export SLUICE_TEST_PYTHON=$VENV/bin/python
	# Spark has its own venv (about 500 MB, 1 min the first time), so that
	# the main one is not reinstalled for it.
	with_lock venv-spark install_venv "$SPARK_VENV" "$SPARK_REQUIREMENTS"
	export SLUICE_TEST_SPARK_PYTHON=$SPARK_VENV/bin/python
	export SLUICE_TEST_SPARK_IVY=$CACHE/spark-ivy
}

# --- Kafka -------------------------------------------------------------------

KAFKA_POM=$ROOT/deploy/testenv/kafka/pom.xml
KAFKA_VERSION=$(sed -n 's:.*<kafka\.version>\(.*\)</kafka\.version>.*:\1:p' "$KAFKA_POM")
KAFKA_LIBS=$CACHE/kafka-$KAFKA_VERSION/libs
# AppCDS archive of the classes the broker loads, dumped by the first run's
# JVM at exit and mapped by later ones: it halves the broker's start time.
KAFKA_CDS=$CACHE/kafka-$KAFKA_VERSION/kafka.jsa
# Small heap and a quick-to-start JIT: the broker serves test traffic only, on
# a 2-core machine.
KAFKA_JVM_OPTS=(-Xms64m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1
	-XX:-UsePerfData -Djava.awt.headless=true)

install_kafka() {
	local want stamp=$CACHE/kafka-$KAFKA_VERSION/pom.sha256
	want=$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)
	if [[ -f $stamp && $(cat "$stamp") == "$want" && -d $KAFKA_LIBS ]]; then
		return
	fi
	command -v mvn >/dev/null || die "mvn is not on PATH (Kafka's jars come from Maven Central)"
	log "fetching Kafka $KAFKA_VERSION jars into $KAFKA_LIBS"
	# Start clean so jars dropped from the pom go too; the stamp is written
	# last, so an interrupted copy is redone next time.
	rm -rf "$KAFKA_LIBS" "$stamp" "$KAFKA_CDS"
	mvn -q -B -f "$KAFKA_POM" dependency:copy-dependencies \
		-DoutputDirectory="$KAFKA_LIBS" -DincludeScope=runtime >&2 ||
		die "mvn dependency:copy-dependencies for $KAFKA_POM failed (it needs Maven Central)"
	echo "$want" >"$stamp"
}

ensure_kafka() {
	[[ -n $KAFKA_VERSION ]] || die "no <kafka.version> in $KAFKA_POM"
	command -v java >/dev/null || die "java is not on PATH (the Kafka broker needs Java 17+)"
	with_lock kafka-install install_kafka
}

# kafka_java_cmd sets KAFKA_JAVA to the command that runs a Kafka main class
# with the cached jars and the run's log4j2 configuration. (An array, not a
# function: started in the background, a function would run in a subshell
# and $! would not be the JVM's pid.)
kafka_java_cmd() {
	KAFKA_JAVA=(java "${KAFKA_JVM_OPTS[@]}"
		-Dlog4j2.configurationFile="$KAFKA_DIR/log4j2.properties"
		-cp "$KAFKA_LIBS/*")
	# With -Xshare:auto (the default) a stale or unreadable archive only
	# costs a warning, which stop_kafka uses to drop it.
	if [[ -f $KAFKA_CDS ]]; then
		KAFKA_JAVA+=(-XX:SharedArchiveFile="$KAFKA_CDS")
	fi
}

# kafka_api_versions PORT sends an ApiVersions v0 request to the broker and
# succeeds if it answers with error code 0 (the request handlers are up).
kafka_api_versions() {
	local fd reply
	# (The braces keep 2>/dev/null from applying to the whole script.)
	{ exec {fd}<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
	# size 24 | api_key 18 | api_version 0 | correlation_id 0x5a1c | client_id "sluice-testenv"
	printf '\x00\x00\x00\x18\x00\x12\x00\x00\x00\x00\x5a\x1c\x00\x0esluice-testenv' >&"$fd" || {
		exec {fd}>&-
		return 1
	}
	# The reply starts: size (4 bytes) | correlation_id (4) | error_code (2).
	reply=$(timeout 5 head -c 10 <&"$fd" | od -An -tx1 | tr -d ' \n') || true
	exec {fd}>&-
	[[ ${reply:8:12} == 00005a1c0000 ]]
}

write_kafka_config() {
	local port=$1 cport=$2
	cat >"$KAFKA_DIR/server.properties" <<-EOF
		# Written by deploy/testenv/test.sh: one KRaft node, broker and controller.
		process.roles=broker,controller
		node.id=1
		controller.quorum.voters=1@127.0.0.1:$cport
		controller.listener.names=CONTROLLER
		listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
		advertised.listeners=PLAINTEXT://127.0.0.1:$port
		inter.broker.listener.name=PLAINTEXT
		listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
		log.dirs=$KAFKA_DIR/data
		num.partitions=4
		auto.create.topics.enable=false
		offsets.topic.replication.factor=1
		offsets.topic.num.partitions=4
		transaction.state.log.replication.factor=1
		transaction.state.log.min.isr=1
		transaction.state.log.num.partitions=4
		share.coordinator.state.topic.replication.factor=1
		share.coordinator.state.topic.min.isr=1
		group.initial.rebalance.delay.ms=0
		delete.topic.enable=true
		# Small segments so tests can exercise rolling and retention cheaply.
		log.segment.bytes=8388608
		log.retention.check.interval.ms=10000
		num.network.threads=2
		num.io.threads=4
		num.recovery.threads.per.data.dir=1
	EOF
	cat >"$KAFKA_DIR/log4j2.properties" <<-EOF
		status = warn
		appender.file.type = File
		appender.file.name = file
		appender.file.fileName = $KAFKA_DIR/kafka.log
		appender.file.layout.type = PatternLayout
		appender.file.layout.pattern = [%d] %p %m (%c)%n
		rootLogger.level = INFO
		rootLogger.appenderRef.file.ref = file
		logger.state.name = state.change.logger
		logger.state.level = WARN
	EOF
}

start_kafka() {
	KAFKA_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sluice-kafka.XXXXXX")
	on_cleanup stop_kafka
	local port cport cluster attempt i t0
	t0=$(date +%s%N)
	kafka_java_cmd
	for attempt in 1 2 3; do
		port=$(free_port)
		cport=$(free_port)
		while [[ $cport == "$port" ]]; do cport=$(free_port); done
		rm -rf "$KAFKA_DIR/data" "$KAFKA_DIR/kafka.log"
		write_kafka_config "$port" "$cport"
		# A cluster id is 16 random bytes, base64url without padding. One in
		# 64 starts with '-', which the tool's argument parser takes for an
		# option (the run then failed to format): give it as --cluster-id=ID.
		cluster=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
		"${KAFKA_JAVA[@]}" kafka.tools.StorageTool format --cluster-id="$cluster" \
			-c "$KAFKA_DIR/server.properties" >"$KAFKA_DIR/format.out" 2>&1 || {
			cat "$KAFKA_DIR/format.out" >&2
			die "formatting Kafka's storage failed (is java 17+ on PATH?)"
		}
		local cds=()
		if [[ ! -f $KAFKA_CDS ]]; then
			cds=(-XX:ArchiveClassesAtExit="$KAFKA_DIR/kafka.jsa")
		fi
		"${KAFKA_JAVA[@]}" "${cds[@]}" kafka.Kafka "$KAFKA_DIR/server.properties" >"$KAFKA_DIR/kafka.out" 2>&1 &
		KAFKA_PID=$!
		for ((i = 0; i < 600; i++)); do
			if ! kill -0 "$KAFKA_PID" 2>/dev/null; then
				break
			fi
			if grep -q 'Kafka Server started' "$KAFKA_DIR/kafka.log" 2>/dev/null && kafka_api_versions "$port"; then
				export SLUICE_TEST_KAFKA_BROKERS="127.0.0.1:$port"
				export SLUICE_TEST_KAFKA_PID=$KAFKA_PID
				log "Kafka $KAFKA_VERSION ready at $SLUICE_TEST_KAFKA_BROKERS (pid $KAFKA_PID, $((($(date +%s%N) - t0) / 1000000)) ms; log $KAFKA_DIR/kafka.log)"
				return
			fi
			sleep 0.1
		done
		log "Kafka did not become ready (attempt $attempt); log:"
		tail -n 20 "$KAFKA_DIR/kafka.out" "$KAFKA_DIR/kafka.log" >&2 || true
		kill_kafka
	done
	die "could not start Kafka; see the log above"
}

kill_kafka() {
	[[ -n ${KAFKA_PID:-} ]] || return 0
	# A test may have paused it.
	kill -CONT "$KAFKA_PID" 2>/dev/null || true
	kill -TERM "$KAFKA_PID" 2>/dev/null || true
	local i
	# A controlled shutdown takes ~2 s; give it 15.
	for ((i = 0; i < 75; i++)); do
		kill -0 "$KAFKA_PID" 2>/dev/null || break
		sleep 0.2
	done
	if kill -0 "$KAFKA_PID" 2>/dev/null; then
		log "Kafka (pid $KAFKA_PID) ignored SIGTERM for 15 s; killing it"
		kill -KILL "$KAFKA_PID" 2>/dev/null || true
	fi
	wait "$KAFKA_PID" 2>/dev/null || true
	KAFKA_PID=
	# Keep a class archive the JVM dumped at exit (see KAFKA_CDS); drop one
	# the JVM could not use.
	if [[ -s $KAFKA_DIR/kafka.jsa && ! -f $KAFKA_CDS ]]; then
		if ! { cp "$KAFKA_DIR/kafka.jsa" "$KAFKA_CDS.tmp.$$" && mv -f "$KAFKA_CDS.tmp.$$" "$KAFKA_CDS"; }; then
			rm -f "$KAFKA_CDS.tmp.$$"
		fi
	elif grep -qiE '\[cds[^]]*\].*(unable|error|mismatch|fail)' "$KAFKA_DIR/kafka.out" 2>/dev/null; then
		log "dropping Kafka's class archive $KAFKA_CDS, which the JVM did not accept"
		rm -f "$KAFKA_CDS"
	fi
	rm -f "$KAFKA_DIR/kafka.jsa"
}

stop_kafka() {
	kill_kafka
	if [[ -n ${KAFKA_DIR:-} ]]; then
		mkdir -p "$CACHE/logs"
		cp "$KAFKA_DIR/kafka.log" "$CACHE/logs/kafka.log" 2>/dev/null || true
		cp "$KAFKA_DIR/kafka.out" "$CACHE/logs/kafka.out" 2>/dev/null || true
		rm -rf "$KAFKA_DIR"
		KAFKA_DIR=
	fi
}

# --- PostgreSQL --------------------------------------------------------------

# PostgreSQL comes from Debian's postgresql package (apt-get installs it when
# no server binaries are found). initdb and postgres refuse to run as root,
# so as root they run as the unprivileged user $PG_USER (the package's
# postgres user, created if missing) through setpriv, which execs (so $! is
# the server's pid). The cluster is initialised once into $PG_TEMPLATE
# (locale C, UTF-8: ORDER BY on names sorts bytewise, as in SQLite) and
# copied into a private directory per run.
PG_USER=postgres
PG_RECIPE=1 # bump to re-initialise the cached cluster

pg_bindir() {
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	[[ -n $d && -x $d/initdb && -x $d/postgres ]] && echo "$d"
}

# as_pg CMD... runs CMD as $PG_USER when we are root, else as ourselves.
# PG_AS is the same prefix as an array, for the server started in the
# background (a function would run in a subshell, and $! be its pid).
PG_AS=()
((EUID == 0)) && PG_AS=(setpriv --reuid="$PG_USER" --regid="$PG_USER" --init-groups --)
as_pg() { ${PG_AS[@]+"${PG_AS[@]}"} "$@"; }

install_postgres() {
	if [[ -z $(pg_bindir) ]]; then
		((EUID == 0)) || die "PostgreSQL server binaries not found under /usr/lib/postgresql and not root: apt-get install postgresql"
		mkdir -p "$CACHE/logs"
		log "apt-get install postgresql"
		# A fresh machine has no package lists yet: update once, then install.
		if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >"$CACHE/logs/apt-postgresql.log" 2>&1; then
			apt-get update -q >>"$CACHE/logs/apt-postgresql.log" 2>&1 || die "apt-get update failed; see $CACHE/logs/apt-postgresql.log"
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >>"$CACHE/logs/apt-postgresql.log" 2>&1 ||
				die "apt-get install postgresql failed; see $CACHE/logs/apt-postgresql.log"
		fi
		[[ -n $(pg_bindir) ]] || die "apt-get installed postgresql but no initdb under /usr/lib/postgresql/*/bin"
	fi
	if ((EUID == 0)) && ! id -u "$PG_USER" >/dev/null 2>&1; then
		useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_USER" || die "useradd $PG_USER failed"
	fi
	local bin want stamp tmp
	bin=$(pg_bindir)
	want="$("$bin/postgres" --version) recipe $PG_RECIPE"
	stamp=$PG_TEMPLATE.stamp
	if [[ -f $PG_TEMPLATE/PG_VERSION && -f $stamp && $(cat "$stamp") == "$want" ]]; then
		return
	fi
	log "initialising a PostgreSQL cluster into $PG_TEMPLATE ($want)"
	rm -rf "$PG_TEMPLATE" "$stamp"
	# initdb runs as $PG_USER, which cannot enter the cache under $HOME:
	# initialise in a temporary directory, then copy the cluster in.
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/sluice-initdb.XXXXXX")
	((EUID == 0)) && chown "$PG_USER:" "$tmp"
	as_pg "$bin/initdb" --pgdata="$tmp/data" --username=sluice --auth=trust --locale=C --encoding=UTF8 \
		--no-sync >"$tmp/initdb.log" 2>&1 || {
		cat "$tmp/initdb.log" >&2
		rm -rf "$tmp"
		die "initdb failed"
	}
	mkdir -p "$(dirname "$PG_TEMPLATE")"
	cp -a "$tmp/data" "$PG_TEMPLATE"
	rm -rf "$tmp"
	echo "$want" >"$stamp"
}

ensure_postgres() {
	PG_TEMPLATE=$CACHE/postgres/template
	with_lock postgres-install install_postgres
	PG_BIN=$(pg_bindir)
}

start_postgres() {
	PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sluice-postgres.XXXXXX")
	on_cleanup stop_postgres
	cp -a "$PG_TEMPLATE" "$PG_DIR/data"
	((EUID == 0)) && chown -R "$PG_USER:" "$PG_DIR"
	chmod 0700 "$PG_DIR" "$PG_DIR/data"
	# Local (socket) connections are trusted: the socket is in the run's
	# private directory. TCP connections need the run's password.
	cat >"$PG_DIR/data/pg_hba.conf" <<-EOF
		local all all trust
		host all all 127.0.0.1/32 scram-sha-256
	EOF
	local pass port attempt i t0
	t0=$(date +%s%N)
	pass=$(random_hex 24)
	for attempt in 1 2 3; do
		port=$(free_port)
		# Durability is off: the cluster lives for one test run.
		${PG_AS[@]+"${PG_AS[@]}"} "$PG_BIN/postgres" -D "$PG_DIR/data" -k "$PG_DIR" -h 127.0.0.1 -p "$port" \
			-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 \
			-c shared_buffers=32MB -c logging_collector=off \
			>"$PG_DIR/postgres.log" 2>&1 &
		PG_PID=$!
		for ((i = 0; i < 300; i++)); do
			if ! kill -0 "$PG_PID" 2>/dev/null; then
				break
			fi
			if "$PG_BIN/pg_isready" -q -h "$PG_DIR" -p "$port" 2>/dev/null; then
				# The password goes through stdin, never a command line.
				printf "ALTER ROLE sluice PASSWORD '%s';\n" "$pass" |
					as_pg "$PG_BIN/psql" -q -X -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$port" -U sluice -d postgres >/dev/null ||
					die "setting the PostgreSQL password failed"
				export SLUICE_TEST_POSTGRES="postgres://sluice:$pass@127.0.0.1:$port/postgres?sslmode=disable"
				export SLUICE_TEST_POSTGRES_PID=$PG_PID
				log "PostgreSQL ready at 127.0.0.1:$port (pid $PG_PID, $((($(date +%s%N) - t0) / 1000000)) ms; log $PG_DIR/postgres.log)"
				return
			fi
			sleep 0.1
		done
		log "PostgreSQL did not become ready (attempt $attempt); log:"
		tail -n 20 "$PG_DIR/postgres.log" >&2 || true
		kill_postgres
	done
	die "could not start PostgreSQL; see the log above"
}

kill_postgres() {
	[[ -n ${PG_PID:-} ]] || return 0
	# A test may have paused it. SIGINT is the fast shutdown.
	kill -CONT "$PG_PID" 2>/dev/null || true
	kill -INT "$PG_PID" 2>/dev/null || true
	local i
	for ((i = 0; i < 100; i++)); do
		kill -0 "$PG_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$PG_PID" 2>/dev/null || true
	wait "$PG_PID" 2>/dev/null || true
	PG_PID=
}

stop_postgres() {
	kill_postgres
	if [[ -n ${PG_DIR:-} ]]; then
		mkdir -p "$CACHE/logs"
		cp "$PG_DIR/postgres.log" "$CACHE/logs/postgres.log" 2>/dev/null || true
		rm -rf "$PG_DIR"
		PG_DIR=
	fi
}

# --- containers --------------------------------------------------------------

CONTAINER_SETUP=$ROOT/deploy/container/setup.sh

install_containers() {
	"$CONTAINER_SETUP" install
	"$CONTAINER_SETUP" images
	"$CONTAINER_SETUP" standins "$KAFKA_LIBS" "$MINIO_BIN"
}

ensure_containers() { with_lock containers-install install_containers; }

# start_containers runs a Docker API service (podman) of this run's own, on
# a socket in a temporary directory, so concurrent runs do not share one.
start_containers() {
	CONTAINERS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sluice-containers.XXXXXX")
	on_cleanup stop_containers
	eval "$(SLUICE_PODMAN_DIR=$CONTAINERS_DIR "$CONTAINER_SETUP" start)"
	export SLUICE_TEST_COMPOSE=$SLUICE_COMPOSE SLUICE_TEST_PODMAN
	SLUICE_TEST_PODMAN=$(command -v podman)
	log "Docker API (podman) at $DOCKER_HOST; compose $SLUICE_TEST_COMPOSE"
}

stop_containers() {
	[[ -n ${CONTAINERS_DIR:-} ]] || return 0
	SLUICE_PODMAN_DIR=$CONTAINERS_DIR "$CONTAINER_SETUP" stop || true
	mkdir -p "$CACHE/logs"
	cp "$CONTAINERS_DIR/podman-service.log" "$CACHE/logs/podman-service.log" 2>/dev/null || true
	rm -rf "$CONTAINERS_DIR"
	CONTAINERS_DIR=
}

# --- tests -------------------------------------------------------------------

# RACE_PKGS are the packages with shared state (the policy engine, the
# server and its handlers, the supervisor, the sharing server): the default
# run (no package arguments) runs their unit tests (-short) a second time
# under the race detector. SLUICE_TEST_RACE=0 skips that pass.
RACE_PKGS=(./policy/... ./serve/...)

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
	local race= all=
	if [[ ${#pkgs[@]} -eq 0 ]]; then
		pkgs=(./...)
		race=${SLUICE_TEST_RACE:-1}
		all=1
	fi
	local rc=0
	if [[ $all == 1 ]]; then
		# go test runs only a few vet checks; the default run runs all of them
		# (copylocks among them).
		log "go vet ./..."
		go vet ./... || rc=$?
	fi
	log "go test ${flags[*]+${flags[*]} }${pkgs[*]}"
	go test "${flags[@]}" "${pkgs[@]}" || rc=$?
	if [[ $race == 1 ]]; then
		# The default run also runs the unit tests of the packages with
		# shared state under the race detector (docs/hardening.md).
		log "go test -race -short ${flags[*]+${flags[*]} }${RACE_PKGS[*]}"
		go test -race -short "${flags[@]}" "${RACE_PKGS[@]}" || rc=$?
	fi
	return "$rc"
}

main() {
	cd "$ROOT"
	command -v go >/dev/null || die "go is not on PATH"
	ensure_venv
	ensure_minio
	ensure_kafka
	ensure_postgres
	ensure_containers
	start_minio
	start_kafka
	start_postgres
	start_containers
	run_go_tests "$@"
}

main "$@"
