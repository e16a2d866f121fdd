#!/usr/bin/env bash
# The local stack's TLS mode (LEDGER_TLS=1 make up): a certificate authority of its own and a
# server certificate for 127.0.0.1 and localhost signed by it, for Kafka's SASL_SSL listener
# and PostgreSQL, and the password of the Kafka SCRAM-SHA-512 user `ledger`. Made once, in
# var/tls (readable by the owner only); the services trust ca.crt, as a cluster's give them
# the cluster CA (docs/operations.md).
#   tls.sh certs
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

certs() {
  [ -s "$TLS/server.pem" ] && [ -s "$TLS/kafka-password" ] && return 0
  command -v openssl >/dev/null || { say "openssl is required for the TLS mode"; exit 1; }
  mkdir -p "$TLS"
  (
    umask 077
    cd "$TLS"
    openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=Markup Ledger local CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -keyout ca.key -out ca.crt 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
    printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=CA:FALSE" \
      "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" \
      "authorityKeyIdentifier=keyid" "subjectKeyIdentifier=hash" >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
      -extfile server.ext -out server.crt 2>/dev/null
    # Kafka reads a PEM key store: the (unencrypted PKCS#8) key, then the certificate.
    cat server.key server.crt >server.pem
    # A random password: it never leaves this directory but for the services' environment.
    openssl rand -hex 24 >kafka-password
    rm -f server.csr server.ext ca.srl
  )
  # The CA certificate is public: every client reads it.
  chmod 644 "$TLS/ca.crt"
  say "TLS: a CA of its own and a certificate for 127.0.0.1 in ${TLS#"$ROOT"/}"
}

case "${1:-}" in
  certs) certs ;;
  *) say "usage: $0 certs"; exit 2 ;;
esac
