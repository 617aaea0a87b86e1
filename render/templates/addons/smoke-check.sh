#!/bin/sh
# Cluster smoke test, run as a Job pod: the pod's resolver is the cluster DNS Service, the API
# Service's name resolves to its ClusterIP, and a pod on another node answers over the pod
# network. Retries while CoreDNS and the server pod come up; exits non-zero with the reason.
set -eu

: "${DOMAIN:?}" "${API_IP:?}" "${DNS_IP:?}" "${RECORD:?}" "${SERVER:?}" "${NAMESPACE:?}" "${PORT:?}"
ATTEMPTS=${ATTEMPTS:-30}
RESOLV_CONF=${RESOLV_CONF:-/etc/resolv.conf}
DELAY=${DELAY:-2}

retry() {
  what=$1
  shift
  i=1
  until "$@"; do
    if [ "$i" -ge "$ATTEMPTS" ]; then
      echo "FAIL: $what (after $ATTEMPTS attempts)" >&2
      return 1
    fi
    i=$((i + 1))
    sleep "$DELAY"
  done
  echo "ok: $what"
}

resolver_is_cluster_dns() {
  grep -qx "nameserver $DNS_IP" "$RESOLV_CONF"
}

api_name_resolves() {
  got=$(dig +short +time=2 +tries=1 "kubernetes.default.svc.$DOMAIN." "$RECORD") || return 1
  if [ "$got" != "$API_IP" ]; then
    echo "kubernetes.default.svc.$DOMAIN resolved to '$got', want $API_IP" >&2
    return 1
  fi
}

peer_pod_answers() {
  ip=$(dig +short +time=2 +tries=1 "$SERVER.$NAMESPACE.svc.$DOMAIN." "$RECORD" | head -n 1) || return 1
  if [ -z "$ip" ]; then
    echo "no pod behind $SERVER.$NAMESPACE yet" >&2
    return 1
  fi
  case $ip in
    *:*) host="[$ip]" ;;
    *) host=$ip ;;
  esac
  curl -fsS --max-time 5 -o /dev/null "http://$host:$PORT/hostname"
}

retry "pod resolver is the cluster DNS Service $DNS_IP" resolver_is_cluster_dns
retry "kubernetes.default.svc.$DOMAIN resolves to $API_IP" api_name_resolves
retry "pod $SERVER ${WHERE:-} answers over the pod network" peer_pod_answers
