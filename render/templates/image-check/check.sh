#% params: NODE
# Asks the registry each image is pulled from whether it holds that image, as the runtime will
# ask it: a manifest request by tag (OCI index, OCI manifest and Docker v2 types accepted).
# Input (stdin): one "<image> <manifest URL>" a line. Prints one line per image; exits 1 naming
# every image the registry says it does not have. A registry that wants a token or cannot be
# reached from here is reported, not failed: the runtime may still have credentials or a route.
set -u
ACCEPT="application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json"
ACCEPT="$ACCEPT,application/vnd.docker.distribution.manifest.list.v2+json"
ACCEPT="$ACCEPT,application/vnd.docker.distribution.manifest.v2+json"
missing=0
while read -r image url; do
  [ -n "$image" ] || continue
  code=$(curl -sS -o /dev/null -w '%{http_code}' -m 10 -I -H "Accept: $ACCEPT" "$url" 2>/dev/null) || code=000
  case $code in
    200) echo "ok: $image" ;;
    401 | 403) echo "not checked: $image ($url asks for credentials)" ;;
    000) echo "not checked: $image ($url cannot be reached from $NODE)" ;;
    404)
      echo "MISSING: $image: $url answered 404 (push it there: docs/air-gapped.md)" >&2
      missing=$((missing + 1))
      ;;
    *) echo "not checked: $image ($url answered HTTP $code)" ;;
  esac
done
if [ "$missing" -gt 0 ]; then
  echo "$missing image(s) are not in the registry: pods that need them would stay Pending" >&2
  exit 1
fi
