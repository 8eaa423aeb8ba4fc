#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# insync-check.sh SOCKET: may this node hold the VIPs? For a keepalived vrrp_script (track_script)
# with a negative weight, so that a node without the peers' states cannot win mastership.
#
# Exit 0 when the conntrackd listening on SOCKET (its control socket: UNIX { Path } in
# conntrackd.conf) has the states:
#   - its InSync property is true: a complete bulk of the peers' states arrived after its last
#     resync request (StartupResync, Demote, RequestResync, the peer's restart or return), or
#   - its Role is "primary" (a successful Promote): the master's states are its own, in its
#     internal cache, whatever happens to its peer.
# Exit 1 otherwise: resync under way, peer lost, none yet, or the daemon does not answer (twice:
# a read that coincides with a change of InSync may fail once, see below).
# Unprivileged (properties only); busctl gives up after 1 s; keepalived's script timeout counts too.
#
# Example (tools/ha-lab.d/lab.sh, --scripts signals|promote): priorities 150 and 100, weight -60:
#   vrrp_script conntrackd_insync {
#           script "/path/to/insync-check.sh /run/conntrackd.ctl"
#           interval 1
#           fall 1
#           rise 1
#           weight -60
#           init_fail
#   }
# and track_script { conntrackd_insync } in the instances that carry the VIPs. A weight above the
# priority gap (50) puts the node that is out of sync below its peer; the same penalty on both
# keeps their order; a lone node still becomes master (a weight only lowers the priority).
# Role is set by Promote/Demote only (conntrackctl promote/demote, Sync { Keepalived }): with the
# 1.4.x steps (-c -f -R -B) a master out of sync would fail this check.

sock=${1:?usage: insync-check.sh CONTROL_SOCKET}

# prop NAME: the property as busctl prints it; one retry: around an InSync change a read on the
# private socket fails now and then (EIO), and one failed run of a master would cost it its place
prop() {
        for _ in 1 2; do
                busctl --timeout=1 --address="unix:path=$sock" get-property org.netfilter.conntrackd1 \
                        /org/netfilter/conntrackd1 org.netfilter.conntrackd1.Manager "$1" 2>/dev/null \
                        && return 0
        done
        return 1
}

[ "$(prop InSync)" = "b true" ] && exit 0
[ "$(prop Role)" = 's "primary"' ] && exit 0
exit 1
