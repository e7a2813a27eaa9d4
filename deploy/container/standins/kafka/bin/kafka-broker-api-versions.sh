#!/bin/bash
# The apache/kafka stand-in's version of the official tool, enough for the
# compose health check (`--bootstrap-server HOST:PORT`): it sends one
# ApiVersions v0 request and succeeds if the broker answers without error.
set -euo pipefail
server=
while (($#)); do
	case $1 in
	--bootstrap-server) server=$2; shift 2 ;;
	*) shift ;;
	esac
done
[[ -n $server ]] || { echo "usage: $0 --bootstrap-server HOST:PORT" >&2; exit 2; }
exec {fd}<>"/dev/tcp/${server%:*}/${server##*:}"
# size 24 | api_key 18 | api_version 0 | correlation_id 0x5a1c | client_id "sluice-standin"
printf '\x00\x00\x00\x18\x00\x12\x00\x00\x00\x00\x5a\x1c\x00\x0esluice-standin' >&"$fd"
# The answer starts: size (4 bytes) | correlation_id (4) | error_code (2).
reply=$(timeout 5 head -c 10 <&"$fd" | od -An -tx1 | tr -d ' \n')
[[ ${reply:8:12} == 00005a1c0000 ]] || { echo "$server: no ApiVersions answer" >&2; exit 1; }
echo "$server: ApiVersions ok"
