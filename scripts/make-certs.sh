#!/usr/bin/env bash
# Makes a testbed's certificates for the TLS link between `nasc client` (devices) and `nasc serve`: a CA, one
# server certificate and one certificate per device, all ECDSA P-256, signed by the CA, in PEM.
#
#   scripts/make-certs.sh DIR [--server NAME]... [--device NAME]... [--days N] [--expired]
#
#   DIR/ca.crt, DIR/ca.key       the deployment's CA (made once; a later call reuses it to sign more certificates)
#   DIR/server.crt, server.key   the edge server; its names (DNS or IP) from --server, default localhost,
#                                127.0.0.1 and ::1 (made only when absent, or when --server is given)
#   DIR/NAME.crt, NAME.key       one per --device NAME (default: one named "device"); NAME becomes the common
#                                name the server logs for that device
#
# --days N sets the validity of what this call signs (default 365); --expired makes those certificates expire
# before they are issued (a test of refusal). Keys are written mode 600. Then:
#   nasc serve  --model M --listen 0.0.0.0:9000 --tls DIR
#   nasc client --model M --server HOST:9000 --tls DIR          (DIR holding ca.crt, device.crt and device.key)
set -euo pipefail

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }
fail() { echo "make-certs: $*" >&2; exit 2; }

[ $# -ge 1 ] || { usage >&2; exit 2; }
case "$1" in -h|--help) usage; exit 0 ;; -*) fail "first argument must be the output directory, got '$1'" ;; esac
DIR=$1; shift
SERVERS=(); DEVICES=(); DAYS=365; EXPIRED=0
while [ $# -gt 0 ]; do
  case "$1" in
    --server) [ $# -ge 2 ] || fail "--server needs a host name or address"; SERVERS+=("$2"); shift 2 ;;
    --device) [ $# -ge 2 ] || fail "--device needs a name"; DEVICES+=("$2"); shift 2 ;;
    --days) [[ "${2:-}" =~ ^[1-9][0-9]{0,4}$ ]] || fail "--days needs a whole number of days 1..99999"; DAYS=$2; shift 2 ;;
    --expired) EXPIRED=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) fail "unknown option '$1' (expected --server, --device, --days or --expired)" ;;
  esac
done
for n in "${DEVICES[@]}"; do
  [[ "$n" =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ ]] || fail "device name '$n': expected letters, digits, '.', '_', '-'"
  case "$n" in ca|server) fail "device name '$n' is taken by the CA or server files" ;; esac
done
command -v openssl >/dev/null || fail "the openssl command is missing (Debian package openssl)"
mkdir -p "$DIR"
umask 077
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT

# OpenSSL 3.0 signs with a negative validity, giving notAfter before notBefore: verification says "expired".
[ $EXPIRED = 1 ] && VALID=-1 || VALID=$DAYS

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

if [ ! -f "$DIR/ca.crt" ] || [ ! -f "$DIR/ca.key" ]; then
  key "$DIR/ca.key"
  openssl req -x509 -new -key "$DIR/ca.key" -sha256 -days 3650 -subj "/CN=nasc testbed CA $(date +%Y%m%d%H%M%S)-$$" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$DIR/ca.crt" 2>/dev/null
  echo "CA:     $DIR/ca.crt"
fi

# sign NAME CN EKU SAN: NAME.key + NAME.crt signed by the CA.
sign() {
  local name=$1 cn=$2 eku=$3 san=$4
  key "$WORK/$name.key"
  openssl req -new -key "$WORK/$name.key" -subj "/CN=$cn" -out "$WORK/$name.csr" 2>/dev/null
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature"
    echo "extendedKeyUsage=$eku"
    [ -n "$san" ] && echo "subjectAltName=$san"
  } >"$WORK/$name.ext"
  openssl x509 -req -in "$WORK/$name.csr" -CA "$DIR/ca.crt" -CAkey "$DIR/ca.key" -CAcreateserial -sha256 \
    -days "$VALID" -extfile "$WORK/$name.ext" -out "$WORK/$name.crt" 2>/dev/null \
    || fail "openssl could not sign the certificate for '$name'"
  mv "$WORK/$name.key" "$DIR/$name.key"
  chmod 644 "$WORK/$name.crt"
  mv "$WORK/$name.crt" "$DIR/$name.crt"
}

if [ ${#SERVERS[@]} -gt 0 ] || [ ! -f "$DIR/server.crt" ]; then
  [ ${#SERVERS[@]} -gt 0 ] || SERVERS=(localhost 127.0.0.1 ::1)
  san=""
  for s in "${SERVERS[@]}"; do
    if [[ "$s" =~ ^[0-9.]+$ || "$s" == *:* ]]; then entry="IP:$s"; else entry="DNS:$s"; fi
    san="${san:+$san,}$entry"
  done
  sign server "${SERVERS[0]}" serverAuth "$san"
  echo "server: $DIR/server.crt ($san)"
fi

[ ${#DEVICES[@]} -gt 0 ] || [ -f "$DIR/device.crt" ] || DEVICES=(device)
for d in "${DEVICES[@]}"; do
  sign "$d" "$d" clientAuth ""
  echo "device: $DIR/$d.crt (CN=$d)"
done
chmod 644 "$DIR/ca.crt"
