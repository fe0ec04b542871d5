#!/bin/sh
# executor: the Wharf demo cluster's stand-in for kaniko's executor
# (gcr.io/kaniko-project/executor). The demo node puts it first on PATH of containers
# that run as local processes, so the image step of a CI Job runs on the demo cluster
# too. It builds and pushes nothing: it reads the Dockerfile and fails where kaniko would
# (no Dockerfile, no FROM first, an unknown instruction, a COPY source missing from the
# context), logs kaniko-like lines, and computes a digest from the context's files (sorted
# paths and their sha256, .git skipped), the Dockerfile, the labels and the build args,
# so the same sources give the same digest and any change gives another. On a real
# cluster the real kaniko image runs.
set -u

started=$(date +%s)
info() { printf 'INFO[%04d] %s\n' "$(($(date +%s) - started))" "$*"; }
fail() {
    printf 'Error: %s\n' "$*" >&2
    exit 1
}

# An absolute path that is not on this host, but under the container (see
# WHARF_SIM_ROOT in simnode's paths module), is taken from there.
host_path() {
    case $1 in
    /*) if [ ! -e "$1" ] && [ -n "${WHARF_SIM_ROOT:-}" ] && [ -e "$WHARF_SIM_ROOT$1" ]; then
        printf '%s' "$WHARF_SIM_ROOT$1"
        return
    fi ;;
    esac
    printf '%s' "$1"
}
# For a file to write: under the container when its directory is only there.
out_path() {
    case $1 in
    /*) dir=${1%/*}
        if [ ! -d "${dir:-/}" ] && [ -n "${WHARF_SIM_ROOT:-}" ] && [ -d "$WHARF_SIM_ROOT$dir" ]; then
            printf '%s' "$WHARF_SIM_ROOT$1"
            return
        fi ;;
    esac
    printf '%s' "$1"
}

sha256_stdin() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum | cut -d ' ' -f 1
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 256 | cut -d ' ' -f 1
    else
        fail "the demo cluster's executor stand-in needs sha256sum or shasum on the host"
    fi
}

nl='
'
context=/workspace/
dockerfile=Dockerfile
destinations=''
labels=''
build_args=''
target=''
digest_file=''
name_digest_file=''
name_tag_digest_file=''
tar_path=''
no_push=false

while [ $# -gt 0 ]; do
    flag=$1
    shift
    value=''
    inline=false
    case $flag in
    --*=*)
        value=${flag#*=}
        flag=${flag%%=*}
        inline=true
        ;;
    esac
    case $flag in
    -c | --context | -f | --dockerfile | -d | --destination | --digest-file | \
        --image-name-with-digest-file | --image-name-tag-with-digest-file | --label | \
        --build-arg | --target | --cache-repo | --cache-dir | --cache-ttl | --snapshot-mode | \
        --snapshotMode | -v | --verbosity | --tar-path | --custom-platform | --registry-mirror | \
        --insecure-registry | --skip-tls-verify-registry | --kaniko-dir | --push-retry | \
        --image-fs-extract-retry | --image-download-retry | --log-format | --ignore-path | \
        --context-sub-path | --oci-layout-path | --registry-certificate | --registry-map | \
        --compression | --compression-level | --git)
        if [ "$inline" = false ]; then
            [ $# -gt 0 ] || fail "flag needs an argument: $flag"
            value=$1
            shift
        fi
        ;;
    esac
    case $flag in
    -c | --context) context=$value ;;
    -f | --dockerfile) dockerfile=$value ;;
    -d | --destination) destinations="$destinations$value$nl" ;;
    --label) labels="$labels$value$nl" ;;
    --build-arg) build_args="$build_args$value$nl" ;;
    --target) target=$value ;;
    --digest-file) digest_file=$value ;;
    --image-name-with-digest-file) name_digest_file=$value ;;
    --image-name-tag-with-digest-file) name_tag_digest_file=$value ;;
    --tar-path) tar_path=$value ;;
    --no-push)
        case ${value:-true} in
        true | 1) no_push=true ;;
        *) no_push=false ;;
        esac
        ;;
    --cache | --cache-run-layers | --cache-copy-layers | --cleanup | --compressed-caching | \
        --force | --ignore-var-run | --insecure | --insecure-pull | --log-timestamp | \
        --no-push-cache | --reproducible | --single-snapshot | --skip-push-permission-check | \
        --skip-tls-verify | --skip-tls-verify-pull | --skip-unused-stages | --use-new-run | \
        --verbosity | -v | --cache-repo | --cache-dir | --cache-ttl | --snapshot-mode | \
        --snapshotMode | --custom-platform | --registry-mirror | \
        --insecure-registry | --skip-tls-verify-registry | --kaniko-dir | --push-retry | \
        --image-fs-extract-retry | --image-download-retry | --log-format | --ignore-path | \
        --context-sub-path | --oci-layout-path | --registry-certificate | --registry-map | \
        --compression | --compression-level | --git) ;;
    --*) fail "unknown flag: $flag" ;;
    -*) fail "unknown shorthand flag: '${flag#-}' in $flag" ;;
    *) fail "unknown command \"$flag\" for \"executor\"" ;;
    esac
done

if [ "$no_push" = false ] && [ -z "$destinations" ]; then
    fail "you must provide --destination, or use --no-push"
fi
case $context in
dir://*) context=${context#dir://} ;;
*://*) fail "error resolving source context: the demo cluster's executor stand-in only builds local directories (dir://), not $context" ;;
esac
context=$(host_path "$context")
context=${context%/}
[ -n "$context" ] || context=/

# As kaniko: the Dockerfile as given (absolute, or relative to the working directory),
# else relative to the context.
df=$(host_path "$dockerfile")
if [ ! -f "$df" ]; then
    case $dockerfile in
    /*) df='' ;;
    *) df="$context/$dockerfile" ;;
    esac
fi
if [ -z "$df" ] || [ ! -f "$df" ]; then
    fail "error resolving dockerfile path: please provide a valid path to a Dockerfile within the build context with --dockerfile"
fi

parse_error() { fail "error building image: parsing dockerfile: $*"; }

# Instructions, one per line ("LINE INSTRUCTION ARGS"), continuations joined, comments
# and blank lines dropped.
instructions=$(awk '
    function flush() { if (cmd != "") print start, cmd; cmd = "" }
    {
        sub(/\r$/, "")
        if (cmd == "" && ($0 ~ /^[ \t]*#/ || $0 ~ /^[ \t]*$/)) next
        if (cmd == "") { start = NR; cmd = $0 } else if ($0 !~ /^[ \t]*#/) { cmd = cmd " " $0 }
        if (cmd ~ /\\[ \t]*$/) { sub(/\\[ \t]*$/, "", cmd); next }
        flush()
    }
    END { flush() }
' "$df")

seen_from=false
while IFS= read -r entry; do
    [ -n "$entry" ] || continue
    line=${entry%% *}
    rest=${entry#* }
    rest=${rest#"${rest%%[! 	]*}"}
    word=$(printf '%s' "${rest%%[ 	]*}" | tr '[:lower:]' '[:upper:]')
    case $word in
    FROM) seen_from=true ;;
    ARG) ;;
    RUN | CMD | LABEL | MAINTAINER | EXPOSE | ENV | ADD | COPY | ENTRYPOINT | VOLUME | USER | \
        WORKDIR | ONBUILD | STOPSIGNAL | HEALTHCHECK | SHELL)
        [ "$seen_from" = true ] || parse_error "no build stage in current context"
        ;;
    *) parse_error "dockerfile parse error on line $line: unknown instruction: $word" ;;
    esac
done <<EOF
$instructions
EOF
[ "$seen_from" = true ] || parse_error "no build stage in current context"

# COPY and ADD sources (not from another stage, not URLs) must be in the context.
printf '%s\n' "$instructions" | while IFS= read -r entry; do
    [ -n "$entry" ] || continue
    rest=${entry#* }
    rest=${rest#"${rest%%[! 	]*}"}
    word=$(printf '%s' "${rest%%[ 	]*}" | tr '[:lower:]' '[:upper:]')
    case $word in COPY | ADD) ;; *) continue ;; esac
    args=${rest#*[ 	]}
    case $args in \[*) continue ;; esac
    set -f
    # shellcheck disable=SC2086
    set -- $args
    set +f
    from_stage=false
    sources=''
    while [ $# -gt 1 ]; do
        case $1 in
        --from=*) from_stage=true ;;
        --*) ;;
        *) sources="$sources$1$nl" ;;
        esac
        shift
    done
    [ "$from_stage" = false ] || continue
    printf '%s' "$sources" | while IFS= read -r src; do
        case $src in http://* | https://* | git@*) continue ;; esac
        src=${src#./}
        src=${src#/}
        # shellcheck disable=SC2086
        if ! ls -d "$context"/$src >/dev/null 2>&1; then
            fail "error building image: error building stage: failed to get files used from context: failed to get fileinfo for $context/$src: lstat $context/$src: no such file or directory"
        fi
    done || exit 1
done || exit 1

listing() {
    (cd "$context" && find . -name .git -prune -o \( -type f -o -type l \) -print | LC_ALL=C sort |
        while IFS= read -r f; do
            if [ -L "$f" ]; then
                printf 'link %s %s\n' "$(readlink "$f")" "$f"
            else
                printf '%s %s\n' "$(sha256_stdin <"$f")" "$f"
            fi
        done)
}
digest=$({
    printf 'wharf-demo-executor v1\ncontext\n'
    listing
    printf 'dockerfile\n'
    cat "$df"
    printf '\nlabels\n'
    printf '%s' "$labels" | LC_ALL=C sort
    printf 'build-args\n'
    printf '%s' "$build_args" | LC_ALL=C sort
    printf 'target %s\n' "$target"
} | sha256_stdin)

# kaniko names images as go-containerregistry does: index.docker.io/library/NAME.
repository() {
    ref=${1%%@*}
    case ${ref##*/} in *:*) ref=${ref%:*} ;; esac
    case $ref in
    */*) case ${ref%%/*} in
        *.* | *:* | localhost) ;;
        *) ref=index.docker.io/$ref ;;
        esac ;;
    *) ref=index.docker.io/library/$ref ;;
    esac
    printf '%s' "$ref"
}
tag_of() {
    ref=${1%%@*}
    case ${ref##*/} in *:*) printf '%s' "${ref##*:}" ;; *) printf latest ;; esac
}

stage=0
stages=''
printf '%s\n' "$instructions" | while IFS= read -r entry; do
    [ -n "$entry" ] || continue
    rest=${entry#* }
    rest=${rest#"${rest%%[! 	]*}"}
    word=$(printf '%s' "${rest%%[ 	]*}" | tr '[:lower:]' '[:upper:]')
    args=${rest#"${rest%%[ 	]*}"}
    args=${args#"${args%%[! 	]*}"}
    case $word in
    FROM)
        image=$args
        while :; do
            case $image in --*) image=${image#*[ 	]} ;; *) break ;; esac
        done
        alias=$(printf '%s' "$image" | awk '{ if (tolower($2) == "as") print $3 }')
        image=${image%%[ 	]*}
        if [ "$image" = scratch ]; then
            info "No base image, nothing to extract"
        elif ! printf '%s' "$stages" | grep -qxF "$image"; then
            registry=$(repository "$image")
            info "Retrieving image manifest $image"
            info "Retrieving image $image from registry ${registry%%/*}"
        fi
        info "Building stage '$image' [idx: '$stage', base-idx: '-1']"
        stages="$stages$alias$nl"
        stage=$((stage + 1))
        ;;
    ARG) info "ARG $args" ;;
    RUN)
        info "RUN $args"
        info "Initializing snapshotter ..."
        info "Taking snapshot of full filesystem..."
        ;;
    COPY | ADD)
        info "$word $args"
        info "Taking snapshot of files..."
        ;;
    *)
        info "$word $args"
        info "No files changed in this command, skipping snapshotting."
        ;;
    esac
done

if [ -n "$labels" ]; then
    printf '%s' "$labels" | while IFS= read -r l; do info "LABEL $l"; done
fi

# Keep the image for the demo node, which runs images built here (see simnode's image
# module): the Dockerfile and the context (.git skipped) in $WHARF_SIM_IMAGES/sha256-DIGEST,
# written to a temporary folder first and moved into place; one already there is kept
# (the same digest is the same content).
if [ -n "${WHARF_SIM_IMAGES:-}" ]; then
    stored="$WHARF_SIM_IMAGES/sha256-$digest"
    if [ ! -d "$stored" ]; then
        mkdir -p "$WHARF_SIM_IMAGES" || fail "creating the images folder $WHARF_SIM_IMAGES"
        work=$(mktemp -d "$WHARF_SIM_IMAGES/.build.XXXXXX") || fail "creating a temporary folder in $WHARF_SIM_IMAGES"
        chmod 755 "$work"
        mkdir "$work/context" &&
            cp -RP "$context/." "$work/context/" &&
            find "$work/context" -name .git -prune -exec rm -rf {} + &&
            cp "$df" "$work/Dockerfile" || {
            rm -rf "$work"
            fail "storing the image in $stored"
        }
        if [ ! -d "$stored" ]; then
            mv "$work" "$stored" || {
                rm -rf "$work"
                fail "storing the image in $stored"
            }
            # Another build of the same digest won the race: mv put this one inside it.
            rm -rf "${stored:?}/${work##*/}"
        else
            rm -rf "$work"
        fi
    fi
    info "Stored image sha256:$digest for the demo node"
fi

if [ -n "$digest_file" ]; then
    printf 'sha256:%s' "$digest" >"$(out_path "$digest_file")" || fail "writing digest file: $digest_file"
fi
if [ -n "$name_digest_file" ]; then
    printf '%s' "$destinations" | while IFS= read -r d; do
        printf '%s@sha256:%s\n' "$(repository "$d")" "$digest"
    done >"$(out_path "$name_digest_file")" || fail "writing image name file: $name_digest_file"
fi
if [ -n "$name_tag_digest_file" ]; then
    printf '%s' "$destinations" | while IFS= read -r d; do
        printf '%s:%s@sha256:%s\n' "$(repository "$d")" "$(tag_of "$d")" "$digest"
    done >"$(out_path "$name_tag_digest_file")" || fail "writing image name file: $name_tag_digest_file"
fi

if [ -n "$tar_path" ]; then
    # A tarball as kaniko writes one for `crane push`: here only its manifest, whose
    # config names the digest (see the crane stand-in).
    [ -n "$destinations" ] || fail "you must provide --destination if setting --tar-path"
    work=$(mktemp -d) || fail "creating a temporary folder"
    tags=$(printf '%s' "$destinations" | awk 'NF { printf "%s\"%s\"", (n++ ? "," : ""), $0 }')
    printf '[{"Config":"sha256:%s","RepoTags":[%s],"Layers":[]}]\n' "$digest" "$tags" >"$work/manifest.json"
    tar -cf "$(out_path "$tar_path")" -C "$work" manifest.json || fail "writing the tarball $tar_path"
    rm -rf "$work"
    info "Tarball written to $tar_path"
fi

if [ "$no_push" = true ]; then
    info "Skipping push to container registry due to --no-push flag"
    exit 0
fi
printf '%s' "$destinations" | while IFS= read -r d; do
    info "Pushing image to $d"
    info "Pushed $(repository "$d")@sha256:$digest"
done
