/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Conversion between our CtEntry / CtExpect and libnetfilter_conntrack's objects and ctnetlink
 * messages, and the 1.4.7 renderings that need libnetfilter_conntrack. With kernel-netlink.c the
 * only code that includes libnetfilter_conntrack; this header does not, so that its users
 * (ct-format.c) stay free of it.
 *
 * Both directions carry exactly the attributes that are present: nothing is synthesised (an
 * entry without a reply tuple, as peers send them, stays without one). The one derivation is
 * ct_entry_derive_nat(), applied to what the kernel reports (spec §1.7).
 */

#include <stdbool.h>
#include <stddef.h>

#include "ct-entry.h"

struct nf_conntrack;
struct nf_expect;
struct nlmsghdr;

/* A new nf_conntrack holding the attributes present in e (free with nfct_destroy()).
 * -EAFNOSUPPORT for an unknown layer 3 protocol, -ENOMEM. */
int ct_entry_to_nfct(const CtEntry *e, struct nf_conntrack **ret);
/* The attributes of an nf_conntrack; -EBADMSG if it lacks the original tuple. */
int ct_entry_from_nfct(const struct nf_conntrack *ct, CtEntry *ret);
/* A ctnetlink conntrack message (event, dump part, get reply) with the NAT attributes derived
 * from the reply tuple. -EBADMSG if malformed or without an original tuple. */
int ct_entry_from_nlmsg(const struct nlmsghdr *nlh, CtEntry *ret);
/* The same through libnetfilter_conntrack's parser: the reference ct_entry_from_nlmsg() is
 * tested against (it reads the message itself, for speed). */
int ct_entry_from_nlmsg_nfct(const struct nlmsghdr *nlh, CtEntry *ret);
/* Write e as the kernel's CT_NEW event message into nlh (a header already put). */
void ct_entry_put_message(struct nlmsghdr *nlh, const CtEntry *e);

/*
 * Set CT_ATTR_SNAT/DNAT/SPAT/DPAT (and the nat.* values) from the reply tuple as 1.4.7 does
 * (spec §1.7): SNAT when SRC_NAT_DONE is set (or the status is unknown) and the reply destination
 * differs from the original source, DNAT likewise with DST_NAT_DONE and the reply source vs. the
 * original destination, SPAT/DPAT the same on ports (only for protocols with ports). No-op
 * without a reply tuple.
 */
void ct_entry_derive_nat(CtEntry *e);

/* Expectations. CT_EXP_ATTR_ID has no libnetfilter_conntrack attribute: it is read from the
 * message by ct_expect_from_nlmsg() only, and not carried through an nf_expect. */
int ct_expect_to_nfexp(const CtExpect *x, struct nf_expect **ret);
int ct_expect_from_nfexp(const struct nf_expect *exp, CtExpect *ret);
int ct_expect_from_nlmsg(const struct nlmsghdr *nlh, CtExpect *ret);

/*
 * Append an entry / expectation to a ctnetlink request whose nfgenmsg header is in place:
 * nfct_nlmsg_build() / nfexp_nlmsg_build(), completed with what the library's builder leaves out
 * (an expectation's class, NAT tuple and function).
 */
int ct_entry_put_request(struct nlmsghdr *nlh, const CtEntry *e);
int ct_expect_put_request(struct nlmsghdr *nlh, const CtExpect *x);

/*
 * libnetfilter_conntrack's one-line rendering (nfct_snprintf / nfexp_snprintf, message type
 * unknown, no flags): the default "conntrack -L" format or, with xml, one <flow> element.
 * Renders exactly the attributes present; *ret is a malloc'd string without a newline.
 */
int ct_entry_render_nfct(const CtEntry *e, bool xml, char **ret);
int ct_expect_render_nfexp(const CtExpect *x, bool xml, char **ret);
