# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers of the reliability tests, on top of the interop harness (fw1 and fw2 in two namespaces
# joined by a sync link, tests/interop/lib-interop.sh).
# shellcheck source=../interop/lib-interop.sh
source "$(dirname "${BASH_SOURCE[0]}")/../interop/lib-interop.sh"

RELIABILITY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$RELIABILITY_DIR/../.." && pwd)}
CT_GEN=${CT_GEN:-${TOP_BUILDDIR:-}/tests/bench/ct-gen}

need_ct_gen() {
        [ -x "$CT_GEN" ] || skip "ct-gen is not built ($CT_GEN)"
}

# gen SIDE create|delete N BASE: ct-gen in SIDE; its summary line goes to $TMP/gen.log. The exit
# status is ct-gen's (1 when some flows already existed or were already gone)
gen() {
        local s=$1 op=$2 n=$3 base=$4
        ns "$s" "$CT_GEN" "$op" "$n" -b "$base" >>"$TMP/gen.log" 2>&1
}

# tstat SIDE SECTION KEY: a counter of GetStatistics(SECTION) of our daemon in SIDE (0 if absent)
tstat() {
        local v
        v=$(ns "$1" "$CONNTRACKCTL" -C "${CONF[$1]}" --no-legend stats "$2" 2>/dev/null \
                | awk -v k="$3" '$1 == k { print $2; exit }')
        echo "${v:-0}"
}

# kernel_as_cache SIDE: SIDE's kernel table in the normalised -i format (conntrack -L without
# timeout and use count), the sync link's own flows left out
kernel_as_cache() {
        ns "$1" conntrack -L 2>/dev/null \
                | grep -v -E 'src=(192\.168\.100\.|fd00:100::|fe80:)' \
                | sed -E 's/^([a-z0-9]+ +[0-9]+) [0-9]+ /\1 /; s/ use=[0-9]+//' \
                | sed -E "$NORM_CACHE" | sort
}

# wait_kernel_cache SIDE SECS: SIDE's internal cache equals its kernel table within SECS
wait_kernel_cache() {
        wait_same "fw$1's internal cache (vs its kernel table)" "$2" "$TMP/kernel$1" "$TMP/int$1" \
                "kernel_as_cache $1" "cache $1 internal"
}

# hello_done SIDE: the FT-FW HELLO handshake of SIDE is over (see tests/interop/test-lossy-link.sh)
hello_done() {
        local recv
        recv=$(ctd "$1" -s | awk '/Pckts recv/ { print $4; exit }')
        [ "${recv:-0}" -ge 3 ] || return 1
        ctd "$1" -s rsqueue | awk '/^control -> / { sub(/.*flags:/, ""); f = $1 + 0 }
                END { exit !(f == "" || int(f / 32) % 4 == 0) }'
}

# alive SIDE: SIDE's daemon process exists and answers -s
alive() {
        kill -0 "${DPID[$1]}" 2>/dev/null && ctd "$1" -s 2>/dev/null | grep -q '^cache internal:'
}

# now_ms: CLOCK_REALTIME in milliseconds
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
