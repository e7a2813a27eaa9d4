#!/usr/bin/env bash
# Creates the local stack's secrets, once, in DIR (default .sluice in the
# current folder, which is where docker-compose.yml looks unless
# SLUICE_STACK_DIR says otherwise). Files that exist are kept, so running it
# again changes nothing.
#
#   DIR/admin_token  the bootstrap admin's token (a compose secret; mode 0644
#                    inside the 0700 DIR, so the non-root server can read it)
#   DIR/minio.env    MINIO_ROOT_USER, MINIO_ROOT_PASSWORD, MINIO_KMS_SECRET_KEY
#   DIR/sluice.env   the same MinIO credentials as AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
#   DIR/profiles/    where the init service writes the recipients' profiles
#
# Usage: deploy/compose/secrets.sh [DIR]
set -euo pipefail
dir=${1:-${SLUICE_STACK_DIR:-.sluice}}
rnd() { head -c "$1" /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'; }
umask 077
mkdir -p "$dir/profiles"
chmod 700 "$dir"
if [[ ! -s $dir/admin_token ]]; then
	printf 'slu_%s\n' "$(rnd 32)" >"$dir/admin_token"
	chmod 644 "$dir/admin_token"
fi
if [[ ! -s $dir/minio.env || ! -s $dir/sluice.env ]]; then
	user=sluice$(rnd 6 | tr -dc 'a-zA-Z0-9')
	pass=$(rnd 24)
	# MinIO's static KMS key: NAME:base64 of 32 random bytes. The name is
	# SLUICE_S3_KMS_KEY_ID in docker-compose.yml.
	printf 'MINIO_ROOT_USER=%s\nMINIO_ROOT_PASSWORD=%s\nMINIO_KMS_SECRET_KEY=sluice-key:%s\n' \
		"$user" "$pass" "$(head -c 32 /dev/urandom | base64 | tr -d '\n')" >"$dir/minio.env"
	printf 'AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n' "$user" "$pass" >"$dir/sluice.env"
fi
echo "secrets in $dir (admin token: $dir/admin_token); profiles will appear in $dir/profiles/"
