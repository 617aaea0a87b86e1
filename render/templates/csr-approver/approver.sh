#% params: KUBECTL OPENSSL ALLOW_NAMESPACE ALLOW_PREFIX ALLOW_KEY KUBECONFIG_FILE CA_FILE KUBELET_PORT SIGNER CLIENT_SIGNER
# Approves kubelet certificate requests that really belong to a node of this cluster: a node's
# first client certificate (signer $CLIENT_SIGNER, from that node's own bootstrap token) and
# serving certificates (signer $SIGNER, from the node itself); leaves every other one pending
# and says why. The rules are render/csr_policy.py's `decide`, applied with kubectl and openssl.
#
#   csr-approver                           one pass over the pending requests (the timer)
#   csr-approver --until-serving N IP S    passes every 5 s until node N's kubelet serves on IP
#                                          a certificate from the cluster CA, at most S seconds
#   csr-approver --forget-node N           deletes node N's Node object (the node left the stack;
#                                          its pods are then garbage-collected); an API that does
#                                          not answer is reported, not fatal (destroy goes on)
set -eu
umask 077
for tool in "$KUBECTL" "$OPENSSL"; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "error: $tool is missing: the CSR approver needs kubectl and openssl on this host" >&2
    exit 1
  fi
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# printf, not echo: names come from the requester, and dash's echo expands backslashes.
say() {
  printf '%s\n' "$*"
}

k() {
  "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" --request-timeout 20s "$@"
}

# Each kubelet node of the cluster has its own allow list, lines `<node> DNS|IP|TOKEN <value>`: key
# $ALLOW_KEY of ConfigMap $ALLOW_PREFIX<node> in namespace $ALLOW_NAMESPACE, which only cluster admins
# write. (ENVIRON: no escape processing of requester-chosen text.)
# fetch NODE: NODE's list into $tmp/allow; empty when there is none (or the API did not answer):
# an unknown node, whose requests stay pending.
fetch() {
  if ! k get configmap -n "$ALLOW_NAMESPACE" "$ALLOW_PREFIX$1" \
    -o "go-template={{with index .data \"$ALLOW_KEY\"}}{{.}}{{end}}" >"$tmp/allow" 2>/dev/null; then
    : >"$tmp/allow"
  fi
}

# known NODE: is NODE a node of this cluster? (fetches its list for `allowed`)
known() {
  fetch "$1"
  N=$1 awk '$1 == ENVIRON["N"] { found = 1 } END { exit !found }' "$tmp/allow"
}

# allowed NODE KIND VALUE: is that a line of NODE's list (fetched by `known`)?
allowed() {
  N=$1 K=$2 V=$3 awk '$1 == ENVIRON["N"] && $2 == ENVIRON["K"] && $3 == ENVIRON["V"] { found = 1 }
    END { exit !found }' "$tmp/allow"
}

# node_name NODE: fails (saying why) unless NODE is a kubelet node of this cluster; fetches its list.
node_name() {
  case $1 in
    '' | *[!a-z0-9.-]*)
      say "$1 is not a node of this cluster"
      return 1
      ;;
  esac
  if ! known "$1"; then
    say "$1 is not a node of this cluster"
    return 1
  fi
}

# usages NAME: the CSR's key usages, sorted, comma-separated.
usages() {
  k get csr "$1" -o jsonpath='{range .spec.usages[*]}{@}{"\n"}{end}' | sort -u | paste -sd, -
}

# request_subject NAME: the CSR's request, decoded into $tmp/req.pem, and its subject (RFC 2253).
request_subject() {
  k get csr "$1" -o jsonpath='{.spec.request}' | base64 -d >"$tmp/req.pem"
  "$OPENSSL" req -in "$tmp/req.pem" -noout -subject -nameopt RFC2253
}

# check_client NAME USER: a node's first client certificate, asked for with a bootstrap token.
check_client() {
  name=$1
  token=${2#system:bootstrap:}
  usages=$(usages "$name")
  case $usages in
    "client auth" | "client auth,digital signature" | "client auth,digital signature,key encipherment") ;;
    *)
      say "usages [$usages] are not client auth"
      return 1
      ;;
  esac
  subject=$(request_subject "$name")
  case $subject in
    "subject=CN=system:node:"*",O=system:nodes")
      node=${subject#subject=CN=system:node:}
      node=${node%,O=system:nodes}
      ;;
    "subject=O=system:nodes,CN=system:node:"*) node=${subject#subject=O=system:nodes,CN=system:node:} ;;
    *)
      say "subject is not O=system:nodes, CN=system:node:<node>"
      return 1
      ;;
  esac
  node_name "$node" || return 1
  if ! allowed "$node" TOKEN "$token"; then
    say "token $token is not $node's"
    return 1
  fi
  "$OPENSSL" asn1parse -in "$tmp/req.pem" >"$tmp/asn1"
  if grep -q ':X509v3 Subject Alternative Name *$' "$tmp/asn1"; then
    say "a client certificate names no host: it has a subjectAltName extension"
    return 1
  fi
}

# check NAME USER: prints why the request must stay pending and fails, or succeeds quietly.
check() {
  name=$1
  user=$2
  case $user in
    system:node:*) node=${user#system:node:} ;;
    *)
      say "requested by $user, not by a node"
      return 1
      ;;
  esac
  node_name "$node" || return 1
  if ! k get csr "$name" -o jsonpath='{range .spec.groups[*]}{@}{"\n"}{end}' | grep -qx 'system:nodes'; then
    say "$user is not in group system:nodes"
    return 1
  fi
  usages=$(usages "$name")
  case $usages in
    "digital signature,server auth" | "digital signature,key encipherment,server auth") ;;
    *)
      say "usages [$usages] are not server auth + digital signature"
      return 1
      ;;
  esac
  subject=$(request_subject "$name")
  case $subject in
    "subject=CN=$user,O=system:nodes" | "subject=O=system:nodes,CN=$user") ;;
    *)
      say "subject is not O=system:nodes, CN=$user"
      return 1
      ;;
  esac
  # How many GeneralNames of which type the extension really holds: a DNS name that itself
  # contains ", " would otherwise read as two names in openssl's text output.
  "$OPENSSL" asn1parse -in "$tmp/req.pem" >"$tmp/asn1"
  extensions=$(grep -c ':X509v3 Subject Alternative Name *$' "$tmp/asn1" || true)
  if [ "$extensions" -ne 1 ]; then
    say "it has $extensions subjectAltName extensions, not one"
    return 1
  fi
  offset=$(awk '/:X509v3 Subject Alternative Name *$/ { want = 1; next }
    want && /OCTET STRING/ { sub(/:.*/, ""); print $1 + 0; exit }' "$tmp/asn1")
  "$OPENSSL" asn1parse -in "$tmp/req.pem" -strparse "$offset" >"$tmp/names"
  want_all=$(grep -c ':d=1 ' "$tmp/names" || true)
  want_dns=$(grep -c ':d=1 .*prim: *cont \[ 2 \]' "$tmp/names" || true)
  want_ip=$(grep -c ':d=1 .*prim: *cont \[ 7 \]' "$tmp/names" || true)
  if [ "$want_all" -eq 0 ]; then
    say "it names no DNS name or IP address"
    return 1
  fi
  if [ "$want_all" -ne $((want_dns + want_ip)) ]; then
    say "it asks for names other than DNS names and IP addresses"
    return 1
  fi
  "$OPENSSL" req -in "$tmp/req.pem" -noout -text |
    awk '/X509v3 Subject Alternative Name:/ { getline; sub(/^ +/, ""); n = split($0, p, ", ");
      for (i = 1; i <= n; i++) print p[i] }' >"$tmp/sans"
  dns=0
  ip=0
  while IFS= read -r san; do
    case $san in
      DNS:*)
        kind=DNS value=${san#DNS:}
        dns=$((dns + 1))
        ;;
      "IP Address:"*)
        kind=IP value=${san#IP Address:}
        ip=$((ip + 1))
        ;;
      *)
        say "it asks for $san"
        return 1
        ;;
    esac
    if ! allowed "$node" "$kind" "$value"; then
      say "$kind $value is not one of $node's names or addresses"
      return 1
    fi
  done <"$tmp/sans"
  if [ "$dns" -ne "$want_dns" ] || [ "$ip" -ne "$want_ip" ]; then
    say "a name contains a separator: openssl shows $dns DNS and $ip IP names for $want_dns and $want_ip"
    return 1
  fi
}

# One pass: approve what passes check, log everything else once per pass.
approve_pending() {
  k get csr -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.spec.signerName}{" "}{.status.conditions[*].type}{"\n"}{end}' \
    >"$tmp/list"
  while read -r name signer conditions; do
    if [ -n "$conditions" ]; then
      continue
    fi
    case $signer in
      "$SIGNER") kind=check ;;
      "$CLIENT_SIGNER") kind=check_client ;;
      *) continue ;;
    esac
    case $name in
      '' | *[!a-z0-9.-]*)
        say "left pending a CSR with an unexpected name"
        continue
        ;;
    esac
    user=$(k get csr "$name" -o jsonpath='{.spec.username}')
    if [ "$kind" = check_client ]; then
      case $user in
        system:bootstrap:[a-z0-9][a-z0-9][a-z0-9][a-z0-9][a-z0-9][a-z0-9]) ;;
        *) continue ;; # a renewal by the node itself: the controller-manager's to approve
      esac
    fi
    if reason=$("$kind" "$name" "$user"); then
      k certificate approve "$name" >/dev/null
      say "approved $name from $user"
    else
      say "left pending $name from $user: $reason"
    fi
  done <"$tmp/list"
}

serving() {
  case $2 in
    *:*) target="[$2]:$KUBELET_PORT" ;;
    *) target="$2:$KUBELET_PORT" ;;
  esac
  # Nothing is sent (stdin is empty): the handshake and the certificate check decide. (Sending
  # a line raced with servers that close after reading it: s_client then failed on their EOF.)
  timeout 10 "$OPENSSL" s_client -connect "$target" -CAfile "$CA_FILE" \
    -verify_return_error -verify_ip "$2" </dev/null >/dev/null 2>&1
}

case ${1:-} in
  "")
    approve_pending
    ;;
  --until-serving)
    node=$2 address=$3 limit=$4
    deadline=$(($(date +%s) + limit))
    while :; do
      approve_pending | tee "$tmp/pass"
      if serving "$node" "$address"; then
        echo "$node: kubelet serves a certificate from the cluster CA"
        exit 0
      fi
      if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "error: $node: kubelet does not serve a certificate from the cluster CA after $limit s" >&2
        if ! grep -e "from system:node:$node:" -e "from system:bootstrap:" "$tmp/pass" >&2; then
          echo "no pending CSR from $node or a bootstrap token: is its kubelet running?" >&2
        fi
        exit 1
      fi
      sleep 5
    done
    ;;
  --forget-node)
    node=$2
    if k delete node "$node" --ignore-not-found --wait=false >"$tmp/out" 2>&1; then
      say "$node: Node object deleted (or already gone)"
    else
      say "warning: $node: Node object not deleted: $(tail -n 1 "$tmp/out")" >&2
    fi
    ;;
  *)
    echo "usage: $0 [--until-serving NODE ADDRESS SECONDS | --forget-node NODE]" >&2
    exit 2
    ;;
esac
