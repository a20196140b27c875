#!/usr/bin/env bash
# Generates the golden backing files with recvault-encrypt, and manifest.json.
#
# Files are made once, by the format version current at the time, and
# committed; every later version of recvault must still decrypt them byte for
# byte. Existing files are never regenerated (a build writing version 2 could
# not remake the version 1 files anyway): a failing test means the reader
# broke compatibility. A new format version adds files next to the old ones.
# Usage: tests/data/golden/make.sh path/to/recvault-encrypt
set -euo pipefail

enc=${1:?usage: make.sh path/to/recvault-encrypt}
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

# The keys and salts as the config API would return them (text, used as-is).
V1_KEY='golden_v1_key_at_least_32_characters_long!'
V1_SALT='c2FsdC12MS1nb2xkZW4tMDE='
V2_KEY='9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'
V2_SALT='golden_salt_version_two'
KEY_ID='key_auto_golden'

mkdir -p plain
# Deterministic pseudo-random plaintexts (AES-CTR keystream of zeros; the
# exact bytes do not matter, they are committed).
gen() {  # gen NAME BYTES
  [ -e "plain/$1" ] && return 0
  head -c "$2" /dev/zero | openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f -iv 00000000000000000000000000000000 >"plain/$1"
}
gen rec-150000.bin 150000
gen rec-100000.bin 100000
gen rec-70000.bin 70000
gen rec-20000.bin 20000
gen rec-8192.bin 8192
gen rec-5000.bin 5000
: >plain/empty.bin
# Format version 2, holes: whole chunks (4 KiB) of zeros become holes with
# recvault-encrypt --sparse. Data from the plaintexts above.
sparse() {  # sparse NAME PIECE... where PIECE is FILE:BYTES or zero:BYTES
  local name=$1 piece
  shift
  [ -e "plain/$name" ] && return 0
  for piece in "$@"; do
    if [ "${piece%%:*}" = zero ]; then head -c "${piece#*:}" /dev/zero; else head -c "${piece#*:}" "plain/${piece%%:*}"; fi
  done >"plain/$name"
}
# data 2 chunks, hole of 8 chunks, data 1 chunk, hole of 1 chunk (a marker alone), last chunk 1000 B
sparse sparse-50152.bin rec-20000.bin:8192 zero:32768 rec-8192.bin:4096 zero:4096 rec-5000.bin:1000
# a hole from the first chunk (3 chunks), data 1 chunk, last chunk 100 B
sparse sparse-16484.bin zero:12288 rec-70000.bin:4096 rec-100000.bin:100

entries=()
make() {  # make FILE PLAIN VERSION ALGORITHM CHUNK STATE [extra args]
  local file=$1 plain=$2 version=$3 alg=$4 chunk=$5 state=$6
  shift 6
  if [ -e "$file" ]; then
    echo "exists, not regenerated: $file" >&2
  else
    local key salt
    if [ "$version" = 1 ]; then key=$V1_KEY salt=$V1_SALT; else key=$V2_KEY salt=$V2_SALT; fi
    printf '%s' "$key" | "$enc" --key-file - --salt "$salt" --key-version "$version" --key-id "$KEY_ID" \
      --algorithm "$alg" --chunk-size "$chunk" "$@" "plain/$plain" "$file"
  fi
  local size sha format holes=0
  size=$(stat -c %s "plain/$plain")
  sha=$(sha256sum "plain/$plain" | cut -d' ' -f1)
  format=$(od -An -tu1 -j10 -N1 "$file" | tr -d ' ')  # the header's version byte
  case " $* " in *" --sparse "*) holes=$hole_count ;; esac
  entries+=("    {\"file\": \"$file\", \"format_version\": $format, \"plaintext\": \"plain/$plain\", \"sha256\": \"$sha\", \"size\": $size, \"algorithm\": \"$alg\", \"key_version\": $version, \"chunk_size\": $chunk, \"state\": \"$state\", \"holes\": $holes}")
}

make gcm-v1-150000.rv        rec-150000.bin 1 AES-256-GCM 65536 sealed --write-size 320
make cbc-v1-70000.rv         rec-70000.bin  1 AES-256-CBC 65536 sealed
make gcm-v2-20000-c4k.rv     rec-20000.bin  2 AES-256-GCM 4096  sealed
make cbc-v2-8192-c4k.rv      rec-8192.bin   2 AES-256-CBC 4096  sealed
make gcm-v1-unterminated.rv  rec-100000.bin 1 AES-256-GCM 65536 unterminated --no-seal
make cbc-v2-unterminated.rv  rec-5000.bin   2 AES-256-CBC 4096  unterminated --no-seal
make gcm-v2-empty.rv         empty.bin      2 AES-256-GCM 65536 sealed
make cbc-v1-empty.rv         empty.bin      1 AES-256-CBC 65536 sealed
# Format version 2 ("f2"): files with holes.
hole_count=2 make gcm-f2-sparse-c4k.rv         sparse-50152.bin 2 AES-256-GCM 4096 sealed --sparse
hole_count=1 make cbc-f2-sparse-c4k.rv         sparse-16484.bin 1 AES-256-CBC 4096 sealed --sparse
hole_count=1 make gcm-f2-sparse-unterminated.rv sparse-16484.bin 1 AES-256-GCM 4096 unterminated --sparse --no-seal

{
  echo '{'
  echo '  "keys": {'
  echo "    \"1\": {\"key\": \"$V1_KEY\", \"salt\": \"$V1_SALT\", \"key_id\": \"$KEY_ID\"},"
  echo "    \"2\": {\"key\": \"$V2_KEY\", \"salt\": \"$V2_SALT\", \"key_id\": \"$KEY_ID\"}"
  echo '  },'
  echo '  "files": ['
  n=${#entries[@]}
  for i in "${!entries[@]}"; do
    if [ "$i" -lt $((n - 1)) ]; then echo "${entries[$i]},"; else echo "${entries[$i]}"; fi
  done
  echo '  ]'
  echo '}'
} >manifest.json

# The account config as the API returns it after one rotation (v1 -> v2).
cat >config.json <<JSON
{
  "success": true,
  "config": {
    "enabled": true,
    "algorithm": "AES-256-GCM",
    "key_version": 2,
    "key_id": "$KEY_ID",
    "salt": "$V2_SALT",
    "key": "$V2_KEY",
    "historical_keys": {"1": "$V1_KEY"},
    "historical_salts": {"1": "$V1_SALT"}
  }
}
JSON
echo "golden files in $here"
