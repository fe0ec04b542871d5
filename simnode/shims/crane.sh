#!/bin/sh
# crane: the Wharf demo cluster's stand-in for go-containerregistry's crane
# (gcr.io/go-containerregistry/crane). Only `crane push TARBALL IMAGE [--image-refs FILE]`,
# the push step of a pipeline: it reads the tarball the executor stand-in wrote with
# --tar-path, fails as crane does when it is missing or not an image tarball, logs
# crane-like lines and prints the pushed reference IMAGE-REPOSITORY@DIGEST (the digest the
# executor computed). It uploads nothing. On a real cluster the real crane image runs.
set -u

fail() {
    printf 'Error: %s\n' "$*" >&2
    exit 1
}
log() { printf '%s %s\n' "$(date '+%Y/%m/%d %H:%M:%S')" "$*" >&2; }

[ $# -gt 0 ] || fail "requires a command: crane push"
command=$1
shift
[ "$command" = push ] || fail "the demo cluster's crane stand-in only pushes, not \"$command\""

refs_file=''
args=''
nl='
'
while [ $# -gt 0 ]; do
    flag=$1
    shift
    case $flag in
    --image-refs=*) refs_file=${flag#*=} ;;
    --image-refs)
        [ $# -gt 0 ] || fail "flag needs an argument: --image-refs"
        refs_file=$1
        shift
        ;;
    --insecure | -v | --verbose | --index) ;;
    --platform=* | --allow-nondistributable-artifacts) ;;
    --*) fail "unknown flag: $flag" ;;
    *) args="$args$flag$nl" ;;
    esac
done
tarball=$(printf '%s' "$args" | sed -n 1p)
image=$(printf '%s' "$args" | sed -n 2p)
[ -n "$tarball" ] && [ -n "$image" ] || fail "accepts 2 arg(s), received $(printf '%s' "$args" | grep -c .)"
[ -f "$tarball" ] || fail "loading $tarball as tarball: open $tarball: no such file or directory"
config=$(tar -xOf "$tarball" manifest.json 2>/dev/null | sed -n 's/.*"Config":"\([^"]*\)".*/\1/p')
case $config in
sha256:*) digest=$config ;;
*) fail "loading $tarball as tarball: file manifest.json not found in tar" ;;
esac

ref=${image%%@*}
case ${ref##*/} in *:*) repo=${ref%:*} ;; *) repo=$ref ;; esac
log "pushed blob: $digest"
log "$image: digest: $digest size: $(wc -c <"$tarball" | tr -d ' ')"
printf '%s@%s\n' "$repo" "$digest"
if [ -n "$refs_file" ]; then
    printf '%s@%s\n' "$repo" "$digest" >"$refs_file" || fail "writing $refs_file"
fi
