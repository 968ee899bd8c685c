#!/usr/bin/env bash
# Issue the crime center broker's certificates with openssl (EC P-256).
#
#   pki.sh init   DIR BROKER_HOST   two CAs (device-ca, staff-ca) and the broker's certificate for BROKER_HOST
#   pki.sh device DIR DEVICE_ID     a doorbell device's client certificate: common name = its device id
#   pki.sh staff  DIR NAME          the center's service account (edge-center) or a police account
#
# Keep DIR (and above all the two *-ca.key files) offline. The broker gets device-ca.pem, staff-ca.pem,
# broker.pem and broker.key in /etc/mosquitto/edge-center/; a client gets its NAME.pem, NAME.key and
# device-ca.pem (the CA that issued the broker's certificate) to check the broker.
set -euo pipefail
die() { echo "pki.sh: $*" >&2; exit 2; }
[ $# -eq 3 ] || die "usage: pki.sh init DIR BROKER_HOST | device DIR DEVICE_ID | staff DIR NAME"
cmd=$1 dir=$2 name=$3
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; chmod 600 "$1"; }

sign() { # sign CA NAME [EXTFILE]
    local ca=$1 cn=$2 ext=${3:-}
    [ -e "$dir/$cn.pem" ] && die "$dir/$cn.pem exists; refusing to issue a second certificate for $cn"
    key "$dir/$cn.key"
    openssl req -new -key "$dir/$cn.key" -subj "/CN=$cn" -out "$dir/$cn.csr"
    openssl x509 -req -in "$dir/$cn.csr" -CA "$dir/$ca.pem" -CAkey "$dir/$ca.key" -CAcreateserial -days 825 \
        ${ext:+-extfile "$ext"} -out "$dir/$cn.pem" 2>/dev/null
    rm -f "$dir/$cn.csr"
    echo "issued $dir/$cn.pem (CN=$cn, by $ca)"
}

case $cmd in
    init)
        mkdir -p "$dir"; chmod 700 "$dir"
        for ca in device-ca staff-ca; do
            [ -e "$dir/$ca.pem" ] && die "$dir/$ca.pem exists"
            key "$dir/$ca.key"
            openssl req -x509 -new -key "$dir/$ca.key" -subj "/CN=edge-center $ca" -days 3650 -out "$dir/$ca.pem"
            echo "created $dir/$ca.pem"
        done
        ext=$(mktemp); trap 'rm -f "$ext"' EXIT
        if [[ $name =~ ^[0-9.]+$ || $name == *:* ]]; then san="IP:$name"; else san="DNS:$name"; fi
        printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san" >"$ext"
        [ -e "$dir/broker.pem" ] && die "$dir/broker.pem exists"
        key "$dir/broker.key"
        openssl req -new -key "$dir/broker.key" -subj "/CN=$name" -out "$dir/broker.csr"
        openssl x509 -req -in "$dir/broker.csr" -CA "$dir/device-ca.pem" -CAkey "$dir/device-ca.key" \
            -CAcreateserial -days 825 -extfile "$ext" -out "$dir/broker.pem" 2>/dev/null
        rm -f "$dir/broker.csr"
        echo "issued $dir/broker.pem for $name" ;;
    device)
        [[ $name =~ ^[a-z0-9-]{3,64}$ ]] || die "device id must be 3-64 of a-z, 0-9 and '-' (it is the topic name)"
        sign device-ca "$name" ;;
    staff)
        [[ $name =~ ^[A-Za-z0-9_.-]{1,64}$ ]] || die "account name must be 1-64 of A-Z, a-z, 0-9, '_', '.', '-'"
        sign staff-ca "$name" ;;
    *) die "unknown command $cmd" ;;
esac
