#!/usr/bin/env bash
# Containers on a machine without a Docker engine or an image registry:
# podman (runc, cgroupfs, explicit ulimits) serving the Docker API on a unix
# socket, Docker Compose built from the Go module proxy, and Debian base
# images built with mmdebstrap from the Debian mirror. deploy/testenv/test.sh
# calls it (ensure_containers / start_containers); it is idempotent, so a
# second run only checks. Runs as root.
#
# Usage: deploy/container/setup.sh install     podman, runc, mmdebstrap, containers.conf, compose
#        deploy/container/setup.sh images      the base images below (cached)
#        deploy/container/setup.sh standins KAFKA_LIBS MINIO_BIN
#                                              the stand-ins for the images docker-compose.yml names
#        deploy/container/setup.sh start|stop  the Docker API (podman system service)
#        deploy/container/setup.sh env         print the export lines (DOCKER_HOST, SLUICE_COMPOSE)
#
# Images, each labelled sluice.key=<hash of its inputs> and rebuilt only when
# that changes:
#   localhost/sluice-base/debian:bookworm   minbase + ca-certificates + tzdata (+ this machine's CAs)
#   localhost/sluice-base/jre:17-bookworm   + openjdk-17-jre-headless
#   golang:…-bookworm (the Dockerfile's GO_IMAGE)  the builder: debian + this machine's Go
#   apache/kafka:KAFKA, minio/minio:RELEASE  stand-ins (deploy/container/standins/*/)
#
# Cache: ${SLUICE_CACHE:-$HOME/.cache/sluice}/containers/{rootfs,bin,logs}
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${SLUICE_CACHE:-$HOME/.cache/sluice}/containers
# The API service's socket and pid file (test.sh gives each run its own).
SOCK=${SLUICE_PODMAN_DIR:-$CACHE}/podman.sock
PIDFILE=${SLUICE_PODMAN_DIR:-$CACHE}/podman-service.pid
SERVICE_LOG=${SLUICE_PODMAN_DIR:-$CACHE/logs}/podman-service.log
COMPOSE_MODULE=github.com/docker/compose/v5
COMPOSE_VERSION=v5.6.0
COMPOSE_BIN=$CACHE/bin/docker-compose
SUITE=bookworm
MIRROR=${SLUICE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${SLUICE_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
# Bump to rebuild every image.
RECIPE=1

log() { printf 'container-env: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}
mkdir -p "$CACHE"/{rootfs,bin,logs}

# --- install -----------------------------------------------------------------

install_packages() {
	local missing=() p
	for p in podman runc mmdebstrap uidmap; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	log "apt-get install ${missing[*]}"
	# A fresh machine has no package lists yet: update once, then install.
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >"$CACHE/logs/apt.log" 2>&1; then
		apt-get update -q >>"$CACHE/logs/apt.log" 2>&1 || die "apt-get update failed; see $CACHE/logs/apt.log"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >>"$CACHE/logs/apt.log" 2>&1 ||
			die "apt-get install ${missing[*]} failed; see $CACHE/logs/apt.log"
	fi
}

# crun cannot run on this hybrid cgroup v1 host and there is no systemd (so
# no systemd cgroups and no journald); the default ulimits fail with EPERM.
write_containers_conf() {
	local conf=/etc/containers/containers.conf want
	want=$(
		cat <<-'CONF'
			# Written by sluice deploy/container/setup.sh
			[containers]
			default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
			[engine]
			runtime = "runc"
			cgroup_manager = "cgroupfs"
			events_logger = "file"
		CONF
	)
	[[ -f $conf && $(cat "$conf") == "$want" ]] && return
	if [[ -f $conf ]] && ! grep -q 'sluice deploy/container/setup.sh' "$conf"; then
		cp "$conf" "$conf.bak.$(date +%s)"
	fi
	mkdir -p "$(dirname "$conf")"
	printf '%s\n' "$want" >"$conf"
	log "wrote $conf"
}

# `go install $COMPOSE_MODULE/cmd@V` refuses a module whose go.mod has
# exclude directives, so build the downloaded module as the main module.
install_compose() {
	if [[ -x $COMPOSE_BIN && $("$COMPOSE_BIN" version --short 2>/dev/null) == "${COMPOSE_VERSION#v}" ]]; then
		return
	fi
	command -v go >/dev/null || die "go is needed to build Docker Compose"
	log "building Docker Compose $COMPOSE_VERSION from the Go module proxy (~3 min on 2 cores)"
	local dir src
	dir=$(cd "$CACHE" && GOFLAGS='' go mod download -json "$COMPOSE_MODULE@$COMPOSE_VERSION" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
	[[ -d $dir ]] || die "go mod download $COMPOSE_MODULE@$COMPOSE_VERSION failed"
	src=$(mktemp -d "$CACHE/compose-src.XXXXXX")
	cp -r "$dir/." "$src" && chmod -R u+w "$src"
	(cd "$src" && GOFLAGS='' CGO_ENABLED=0 go build -trimpath \
		-ldflags "-s -w -X $COMPOSE_MODULE/internal.Version=$COMPOSE_VERSION" \
		-o "$COMPOSE_BIN.tmp" ./cmd) >"$CACHE/logs/compose-build.log" 2>&1 ||
		{
			rm -rf "$src"
			die "building Docker Compose failed; see $CACHE/logs/compose-build.log"
		}
	rm -rf "$src"
	mv -f "$COMPOSE_BIN.tmp" "$COMPOSE_BIN"
}

do_install() {
	install_packages
	write_containers_conf
	install_compose
}

# --- images ------------------------------------------------------------------

image_key() { podman image inspect --format '{{index .Labels "sluice.key"}}' "$1" 2>/dev/null || true; }

hash16() { sha256sum | cut -c1-16; }

# rootfs NAME PACKAGES echoes the path of a cached mmdebstrap tarball.
rootfs() {
	local name=$1 include=$2 key tar hooks=()
	key=$(printf '%s\n' "$RECIPE" "$SUITE" "$MIRROR" "$include" "$(cat /usr/local/share/ca-certificates/*.crt 2>/dev/null)" | hash16)
	tar=$CACHE/rootfs/$SUITE-$name-$key.tar
	if [[ ! -s $tar ]]; then
		log "mmdebstrap $SUITE $name ($include) (~1-2 min)"
		if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
			# This machine's egress intercepts TLS: builds inside the images
			# (apt, the Go module proxy) need its CAs.
			hooks=(--customize-hook='copy-in /usr/local/share/ca-certificates /usr/local/share'
				--customize-hook='chroot "$1" update-ca-certificates >/dev/null')
		fi
		mmdebstrap --variant=minbase --include="$include" "${hooks[@]}" "$SUITE" "${tar%.tar}.partial.tar" \
			"deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" "deb $SECURITY_MIRROR $SUITE-security main" \
			>"$CACHE/logs/mmdebstrap-$name.log" 2>&1 || die "mmdebstrap failed; see $CACHE/logs/mmdebstrap-$name.log"
		mv -f "${tar%.tar}.partial.tar" "$tar"
		find "$CACHE/rootfs" -name "$SUITE-$name-*.tar" ! -name "${tar##*/}" -delete
	fi
	echo "$tar"
}

# import_rootfs IMAGE NAME PACKAGES
import_rootfs() {
	local image=$1 tar key
	tar=$(rootfs "$2" "$3")
	key=$(basename "$tar" .tar)
	[[ $(image_key "$image") == "$key" ]] && return
	log "podman import $image"
	podman import --change "LABEL sluice.key=$key" --change 'CMD ["/bin/bash"]' "$tar" "$image" >"$CACHE/logs/import-$2.log" 2>&1 ||
		die "podman import $image failed"
}

# build_image IMAGE KEY CONTEXT [podman build args...]: builds unless IMAGE
# already carries KEY.
build_image() {
	local image=$1 key=$2 ctx=$3
	shift 3
	[[ $(image_key "$image") == "$key" ]] && return
	log "podman build $image"
	podman build -q --pull=never --label "sluice.key=$key" -t "$image" "$@" "$ctx" >"$CACHE/logs/build-${image//[\/:]/_}.log" 2>&1 ||
		die "podman build $image failed; see $CACHE/logs/build-${image//[\/:]/_}.log"
}

# The Dockerfile's builder stage, golang:VERSION-bookworm, stood in for by
# the Debian base and this machine's Go toolchain.
build_golang() {
	local goroot gover ctx key image
	goroot=$(go env GOROOT) || die "go is not on PATH"
	gover=$(go env GOVERSION)
	gover=${gover#go}
	# The name the Dockerfile builds FROM; this machine's Go must be at least
	# go.mod's version, which that image carries.
	image=$(sed -n 's/^ARG GO_IMAGE=//p' "$ROOT/Dockerfile")
	[[ -n $image ]] || die "no ARG GO_IMAGE= in $ROOT/Dockerfile"
	image=$(qualify "$image")
	key=$(printf '%s\n' "$RECIPE" "$gover" "$(podman image inspect --format '{{.Id}}' "localhost/sluice-base/debian:$SUITE")" | hash16)
	[[ $(image_key "$image") == "$key" ]] && return
	ctx=$(mktemp -d "$CACHE/golang-ctx.XXXXXX")
	cp -al "$goroot" "$ctx/go" 2>/dev/null || cp -a "$goroot" "$ctx/go"
	cat >"$ctx/Containerfile" <<-CF
		FROM localhost/sluice-base/debian:$SUITE
		COPY go /usr/local/go
		ENV PATH=/go/bin:/usr/local/go/bin:\$PATH GOPATH=/go GOTOOLCHAIN=local
		WORKDIR /go
	CF
	build_image "$image" "$key" "$ctx" || {
		rm -rf "$ctx"
		exit 1
	}
	rm -rf "$ctx"
}

do_images() {
	import_rootfs "localhost/sluice-base/debian:$SUITE" min ca-certificates,tzdata
	import_rootfs "localhost/sluice-base/jre:17-$SUITE" jre17 ca-certificates,tzdata,openjdk-17-jre-headless
	build_golang
}

# dir_key DIR: a hash of the names, sizes and contents of the files in DIR.
dir_key() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | hash16; }

# qualify IMAGE: the full name Docker gives a short one (apache/kafka:4.4.0
# is docker.io/apache/kafka:4.4.0), which is what compose asks the API for;
# podman alone would store a short name under localhost/.
qualify() {
	local first=${1%%/*}
	if [[ $1 != */* ]]; then
		echo "docker.io/library/$1"
	elif [[ $first == *.* || $first == *:* || $first == localhost ]]; then
		echo "$1"
	else
		echo "docker.io/$1"
	fi
}

# compose_image SERVICE: the image docker-compose.yml names for SERVICE.
compose_image() {
	local image
	image=$(sed -n "/^  $1:\$/,/^  [a-z]/s/^    image: *\(.*\)\$/\1/p" "$ROOT/docker-compose.yml" | head -n1)
	[[ -n $image ]] && qualify "$image"
}

# do_standins KAFKA_LIBS MINIO_BIN: the stand-ins for the third-party images
# in docker-compose.yml, under the same names (see standins/README.md).
do_standins() {
	local libs=$1 minio=$2 ctx key image
	[[ -d $libs ]] || die "no Kafka jars at $libs"
	[[ -x $minio ]] || die "no MinIO binary at $minio"
	image=$(compose_image kafka)
	[[ -n $image ]] || die "no kafka image in $ROOT/docker-compose.yml"
	key=$(printf '%s\n' "$RECIPE" "$(image_key "localhost/sluice-base/jre:17-$SUITE")" "$(dir_key "$HERE/standins/kafka")" "$(dir_key "$libs")" | hash16)
	if [[ $(image_key "$image") != "$key" ]]; then
		ctx=$(mktemp -d "$CACHE/kafka-ctx.XXXXXX")
		cp -a "$HERE/standins/kafka/." "$ctx/"
		cp -al "$libs" "$ctx/libs" 2>/dev/null || cp -a "$libs" "$ctx/libs"
		build_image "$image" "$key" "$ctx" --build-arg "BASE=localhost/sluice-base/jre:17-$SUITE" || {
			rm -rf "$ctx"
			exit 1
		}
		rm -rf "$ctx"
	fi
	image=$(compose_image minio)
	[[ -n $image ]] || die "no minio image in $ROOT/docker-compose.yml"
	key=$(printf '%s\n' "$RECIPE" "$(image_key "localhost/sluice-base/debian:$SUITE")" "$(dir_key "$HERE/standins/minio")" "$(sha256sum <"$minio")" | hash16)
	if [[ $(image_key "$image") != "$key" ]]; then
		ctx=$(mktemp -d "$CACHE/minio-ctx.XXXXXX")
		cp -a "$HERE/standins/minio/." "$ctx/"
		cp -l "$minio" "$ctx/minio" 2>/dev/null || cp "$minio" "$ctx/minio"
		build_image "$image" "$key" "$ctx" --build-arg "BASE=localhost/sluice-base/debian:$SUITE" || {
			rm -rf "$ctx"
			exit 1
		}
		rm -rf "$ctx"
	fi
}

# --- the Docker API ----------------------------------------------------------

running() { [[ -f $PIDFILE ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null && [[ -S $SOCK ]]; }

do_env() {
	echo "export DOCKER_HOST=unix://$SOCK"
	echo "export SLUICE_COMPOSE=$COMPOSE_BIN"
}

do_start() {
	# Each build of a changed source tree leaves untagged build-stage images
	# behind; drop those a day old, keeping the recent ones as build cache.
	podman image prune --force --filter until=24h >/dev/null 2>&1 || true
	if ! running; then
		rm -f "$SOCK"
		# setsid: the service outlives this script; do_stop ends it by pid.
		setsid podman system service --time=0 "unix://$SOCK" >"$SERVICE_LOG" 2>&1 </dev/null &
		echo $! >"$PIDFILE"
		local i
		for ((i = 0; i < 100; i++)); do
			[[ -S $SOCK ]] && curl -fsS --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1 && break
			sleep 0.2
		done
		running || die "podman system service did not start; see $SERVICE_LOG"
		log "Docker API (podman) on $SOCK, pid $(cat "$PIDFILE")"
	fi
	do_env
}

do_stop() {
	[[ -f $PIDFILE ]] || return 0
	local pid i
	pid=$(cat "$PIDFILE")
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	rm -f "$PIDFILE" "$SOCK"
}

case ${1:-} in
install) do_install ;;
images) do_images ;;
standins)
	[[ $# -eq 3 ]] || die "usage: $0 standins KAFKA_LIBS MINIO_BIN"
	do_standins "$2" "$3"
	;;
start) do_start ;;
stop) do_stop ;;
env) do_env ;;
*) die "usage: $0 install|images|standins KAFKA_LIBS MINIO_BIN|start|stop|env" ;;
esac
