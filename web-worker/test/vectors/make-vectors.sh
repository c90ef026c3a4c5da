#!/usr/bin/env bash
# Makes the fixed pairing vectors the crypto and pairing unit tests check against, with the
# openssl CLI only (independent of funkhaus-web's code). Run once; its output is checked in.
#   web-worker/test/vectors/make-vectors.sh   (writes into its own folder)
set -euo pipefail
cd "$(dirname "$0")"
hex() { xxd -p -c 100000 | tr a-f A-F; }
unhex() { xxd -r -p; }
if [[ ! -f host-key.pem ]]; then
  openssl genrsa -out host-key.pem 2048 2>/dev/null
  openssl req -new -x509 -key host-key.pem -sha256 -days 7300 -subj "/CN=NVIDIA GameStream Server" -out host-cert.pem
  openssl genrsa -out client-key.pem 2048 2>/dev/null
  openssl req -new -x509 -key client-key.pem -sha256 -days 7300 -subj "/CN=NVIDIA GameStream Client" -out client-cert.pem
fi
sig_of() { openssl x509 -in "$1" -outform DER | tail -c 256 | hex; }
salt=00112233445566778899AABBCCDDEEFF
pin=1234
C=000102030405060708090A0B0C0D0E0F            # the client's challenge (plain)
S=A0A1A2A3A4A5A6A7A8A9AAABACADAEAF            # the host's secret (its first random draw)
SC=B0B1B2B3B4B5B6B7B8B9BABBBCBDBEBF           # the host's challenge (its second)
CS=C0C1C2C3C4C5C6C7C8C9CACBCCCDCECF           # the client's secret
key=$( (printf %s "$salt" | unhex; printf %s "$pin") | openssl dgst -sha256 -binary | head -c 16 | hex)
enc() { unhex | openssl enc -aes-128-ecb -K "$key" -nopad | hex; }
host_sig=$(sig_of host-cert.pem)
client_sig=$(sig_of client-cert.pem)
clientchallenge=$(printf %s "$C" | enc)
H=$(printf %s "$C$host_sig$S" | unhex | openssl dgst -sha256 -binary | hex)
challengeresponse=$(printf %s "$H$SC" | enc)
client_hash=$(printf %s "$SC$client_sig$CS" | unhex | openssl dgst -sha256 -binary | hex)
serverchallengeresp=$(printf %s "$client_hash" | enc)
host_sign_S=$(printf %s "$S" | unhex | openssl dgst -sha256 -sign host-key.pem | hex)
client_sign_CS=$(printf %s "$CS" | unhex | openssl dgst -sha256 -sign client-key.pem | hex)
{
  echo "salt=$salt"
  echo "pin=$pin"
  echo "aes_key=$key"
  echo "random_S=$S"
  echo "random_SC=$SC"
  echo "host_cert_signature=$host_sig"
  echo "host_cert_fingerprint=$(openssl x509 -in host-cert.pem -noout -fingerprint -sha256 | sed 's/.*=//; s/://g')"
  echo "client_cert_hex=$(hex < client-cert.pem)"
  echo "clientchallenge=$clientchallenge"
  echo "challengeresponse=$challengeresponse"
  echo "serverchallengeresp=$serverchallengeresp"
  echo "pairingsecret=$S$host_sign_S"
  echo "clientpairingsecret=$CS$client_sign_CS"
  echo "sha256_abc=$(printf abc | openssl dgst -sha256 -binary | hex)"
  echo "sha1_abc=$(printf abc | openssl dgst -sha1 -binary | hex)"
  echo "aes_plain=$C"
  echo "aes_cipher=$clientchallenge"
  echo "bad_signature_clientpairingsecret=$CS$(printf %s "$SC" | unhex | openssl dgst -sha256 -sign client-key.pem | hex)"
} > vectors.txt
echo "wrote $(pwd)/vectors.txt"
