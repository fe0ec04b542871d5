#!/bin/sh
# sonar-scanner: the Wharf demo cluster's stand-in for the SonarScanner CLI. The demo
# node puts it first on PATH of containers that run as local processes, so the quality
# step of a CI Job runs on the demo cluster too. It talks to no server: it scans the text
# files under the project's base directory (.git skipped), reports each line containing
# FIXME as a blocker issue and each line containing TODO as a code smell, and passes the
# quality gate unless there is a blocker (exit 1 with -Dsonar.qualitygate.wait=true).
# Properties come from -D arguments, else sonar-project.properties, else SONAR_HOST_URL
# and SONAR_TOKEN. On a real cluster the real scanner image runs.
set -u

host=''
token=''
key=''
base=''
sources=''
wait=''
for arg in "$@"; do
    case $arg in
    -Dsonar.host.url=*) host=${arg#*=} ;;
    -Dsonar.token=* | -Dsonar.login=*) token=${arg#*=} ;;
    -Dsonar.projectKey=*) key=${arg#*=} ;;
    -Dsonar.projectBaseDir=*) base=${arg#*=} ;;
    -Dsonar.sources=*) sources=${arg#*=} ;;
    -Dsonar.qualitygate.wait=*) wait=${arg#*=} ;;
    -D*) ;;
    -X | --debug | -Dsonar.verbose=*) ;;
    -v | --version)
        echo "INFO: SonarScanner CLI (Wharf demo cluster stand-in)"
        exit 0
        ;;
    *)
        printf 'ERROR: Unrecognized option: %s\n' "$arg" >&2
        exit 2
        ;;
    esac
done

base=${base:-.}
case $base in
/*) if [ ! -d "$base" ] && [ -n "${WHARF_SIM_ROOT:-}" ] && [ -d "$WHARF_SIM_ROOT$base" ]; then
    base=$WHARF_SIM_ROOT$base
fi ;;
esac
if ! cd "$base" 2>/dev/null; then
    printf 'ERROR: The folder %s does not exist (sonar.projectBaseDir)\n' "$base" >&2
    exit 2
fi
property() {
    [ -f sonar-project.properties ] || return 0
    sed -n "s/^[ 	]*$1[ 	]*[=:][ 	]*//p" sonar-project.properties | tail -n 1 | tr -d '\r'
}
[ -n "$host" ] || host=$(property 'sonar\.host\.url')
[ -n "$host" ] || host=${SONAR_HOST_URL:-}
[ -n "$token" ] || token=${SONAR_TOKEN:-}
[ -n "$key" ] || key=$(property 'sonar\.projectKey')
[ -n "$sources" ] || sources=$(property 'sonar\.sources')
[ -n "$wait" ] || wait=$(property 'sonar\.qualitygate\.wait')
sources=${sources:-.}

echo "INFO: SonarScanner CLI (Wharf demo cluster stand-in: counts FIXME and TODO comments)"
if [ -z "$host" ]; then
    echo "ERROR: sonar.host.url is not set: pass -Dsonar.host.url=URL or set SONAR_HOST_URL" >&2
    exit 2
fi
if [ -z "$key" ]; then
    echo "ERROR: You must define the following mandatory properties for 'Unknown': sonar.projectKey" >&2
    exit 2
fi
host=${host%/}
dashboard="$host/dashboard?id=$key"
echo "INFO: Project root configuration file: $(if [ -f sonar-project.properties ]; then echo "$PWD/sonar-project.properties"; else echo NONE; fi)"
echo "INFO: Analyzing on SonarQube server $host"
if [ -n "$token" ]; then
    echo "INFO: Authenticating with a token (not checked by the demo stand-in)"
fi
echo "INFO: Project key: $key"
echo "INFO: Base dir: $PWD"

tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
old_ifs=$IFS
IFS=,
set -f
# shellcheck disable=SC2086
set -- $(printf '%s' "$sources" | tr -d ' \t')
set +f
IFS=$old_ifs
for src in "$@"; do
    if [ ! -e "$src" ]; then
        printf "ERROR: Invalid value of sonar.sources for %s: the folder '%s' does not exist\n" "$key" "$src" >&2
        exit 2
    fi
done
for src in "$@"; do
    find "$src" -name .git -prune -o -type f -print
done | LC_ALL=C sort -u >"$tmp/files"
while IFS= read -r f; do
    # Text files only: grep -I treats a file with NUL bytes as binary.
    grep -Iq '' "$f" 2>/dev/null || continue
    echo "$f" >>"$tmp/indexed"
    name=${f#./}
    grep -n 'FIXME' "$f" | while IFS=: read -r n _; do
        printf 'BLOCKER %s:%s\n' "$name" "$n"
    done
    grep -n 'TODO' "$f" | while IFS=: read -r n _; do
        printf 'SMELL %s:%s\n' "$name" "$n"
    done
done <"$tmp/files" >"$tmp/issues"

files=0
[ -f "$tmp/indexed" ] && files=$(wc -l <"$tmp/indexed" | tr -d ' ')
blockers=$(grep -c '^BLOCKER' "$tmp/issues")
smells=$(grep -c '^SMELL' "$tmp/issues")
echo "INFO: $files source files indexed"
echo "INFO: Sensor FIXME and TODO comments"
while read -r kind where; do
    case $kind in
    BLOCKER) echo "INFO:   BLOCKER    $where  Take the required action to fix the issue indicated by this \"FIXME\" comment." ;;
    SMELL) echo "INFO:   CODE SMELL $where  Complete the task associated to this \"TODO\" comment." ;;
    esac
done <"$tmp/issues"
echo "INFO: $blockers blocker issue(s), $smells code smell(s)"
echo "INFO: ANALYSIS SUCCESSFUL, you can find the results at: $dashboard"
if [ "$wait" = true ]; then
    echo "INFO: ------------- Check Quality Gate status"
    echo "INFO: Waiting for the analysis report to be processed (max 300s)"
fi
if [ "$blockers" -gt 0 ]; then
    echo "ERROR: QUALITY GATE STATUS: FAILED - View details on $dashboard"
    [ "$wait" = true ] && exit 1
    exit 0
fi
echo "INFO: QUALITY GATE STATUS: PASSED - View details on $dashboard"
