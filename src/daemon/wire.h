/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The replication wire format of conntrackd 1.4.7 (spec §1): message headers, control messages,
 * conntrack and expectation TLVs, datagram framing and the receiver's checks and counters.
 * Pure: no fd, no event loop, no logging above debug. Multi-byte header fields are big-endian.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ct-entry.h"
#include "macro.h"

#define WIRE_VERSION            1
#define WIRE_HEADER_SIZE        8       /* version/type, flags, len, seq */
#define WIRE_CONTROL_SIZE       16      /* header + from + to (ACK, NACK, RESYNC) */
#define WIRE_ATTR_HEADER_SIZE   4       /* nta_len, nta_attr */
#define WIRE_MESSAGE_MAX        4096    /* 1.4.7's scratch buffer: no message is bigger */
#define WIRE_RECV_BUFFER_SIZE   65536

#define WIRE_ALIGN(n)           (((n) + 3u) & ~(size_t) 3u)

/* Message types (low nibble of byte 0). 6-9 and 11-15 are invalid. */
typedef enum WireType {
        WIRE_CT_NEW     = 0,
        WIRE_CT_UPD     = 1,
        WIRE_CT_DEL     = 2,
        WIRE_EXP_NEW    = 3,
        WIRE_EXP_UPD    = 4,
        WIRE_EXP_DEL    = 5,
        WIRE_CTL        = 10,
        _WIRE_TYPE_MAX,
        _WIRE_TYPE_INVALID = -EINVAL,
} WireType;

/* "ct-new", "ct-upd", "ct-del", "exp-new", "exp-upd", "exp-del", "ctl"; NULL for 6-9 */
const char *wire_type_to_string(WireType t);
WireType wire_type_from_string(const char *s);

/* Flag bits (byte 1). */
typedef enum WireFlag {
        WIRE_F_UNUSED           = 0x01, /* never set; a data message carrying it is rejected */
        WIRE_F_RESYNC           = 0x02,
        WIRE_F_NACK             = 0x04,
        WIRE_F_ACK              = 0x08,
        WIRE_F_ALIVE            = 0x10,
        WIRE_F_HELLO            = 0x20,
        WIRE_F_HELLO_BACK       = 0x40,
} WireFlag;

#define WIRE_F_HELLO_MASK       (WIRE_F_HELLO | WIRE_F_HELLO_BACK)
#define WIRE_F_RANGE_MASK       (WIRE_F_ACK | WIRE_F_NACK | WIRE_F_RESYNC)

/* Bit numbers of the flags, for the string table: 0 "unused" ... 6 "hello-back". */
typedef enum WireFlagBit {
        WIRE_FLAG_BIT_UNUSED,
        WIRE_FLAG_BIT_RESYNC,
        WIRE_FLAG_BIT_NACK,
        WIRE_FLAG_BIT_ACK,
        WIRE_FLAG_BIT_ALIVE,
        WIRE_FLAG_BIT_HELLO,
        WIRE_FLAG_BIT_HELLO_BACK,
        _WIRE_FLAG_BIT_MAX,
        _WIRE_FLAG_BIT_INVALID = -EINVAL,
} WireFlagBit;

const char *wire_flag_bit_to_string(WireFlagBit b);
WireFlagBit wire_flag_bit_from_string(const char *s);
/* "ack|hello" style rendering of a flags byte ("" for 0; unknown bit 7 as "0x80"). */
const char *wire_flags_to_string(uint8_t flags, char *buf, size_t size);

/* Why a datagram or a message was rejected. Each reason has its own negative errno, returned by
 * the decoders (wire_reason_to_errno()), and feeds one of the WireStats counters. */
typedef enum WireReason {
        WIRE_REASON_TRUNCATED,          /* < 8 bytes left (or < 16 for a range control) -ENODATA */
        WIRE_REASON_ZERO_SIZE,          /* len == 0, rest of the datagram dropped   -ENOMSG */
        WIRE_REASON_OVERSIZED,          /* len > bytes left                          -EMSGSIZE */
        WIRE_REASON_UNDERSIZED,         /* len < 8 (< 16 for ACK/NACK/RESYNC)        -EBADMSG */
        WIRE_REASON_BAD_VERSION,        /* version != 1                      -EPROTONOSUPPORT */
        WIRE_REASON_BAD_HEADER,         /* neither data nor a valid control message  -EPROTO */
        WIRE_REASON_BAD_TYPE,           /* data with type > 5 (ALARM classification) -EOPNOTSUPP */
        WIRE_REASON_ATTR_TRUNCATED,     /* nta_len > bytes left in the message      -EOVERFLOW */
        WIRE_REASON_ATTR_SHORT,         /* nta_len < 4                               -ERANGE */
        WIRE_REASON_UNKNOWN_ATTR,       /* id >= 33 (ct) / >= 21 (exp)               -ENOPROTOOPT */
        WIRE_REASON_ATTR_SIZE,          /* fixed-size attribute of the wrong length  -EINVAL */
        WIRE_REASON_HELPER_TOO_LONG,    /* helper nta_len > 16 (> 11 chars)  -ENAMETOOLONG */
        WIRE_REASON_LABELS_TOO_LONG,    /* labels nta_len > 1028                     -E2BIG */
        WIRE_REASON_MISSING_L4PROTO,    /* no L4PROTO attribute              -EPFNOSUPPORT */
        WIRE_REASON_MISSING_ADDRESS,    /* no IPV4/IPV6 address attribute    -EDESTADDRREQ */
        _WIRE_REASON_MAX,
        _WIRE_REASON_INVALID = -EINVAL,
} WireReason;

const char *wire_reason_to_string(WireReason r);
WireReason wire_reason_from_string(const char *s);
int wire_reason_to_errno(WireReason r);         /* negative */
WireReason wire_reason_from_errno(int error);   /* _WIRE_REASON_INVALID if not one of ours */

/* Receive-side counters, as `conntrackd -s network` prints them (stats-keys.h "network.recv_*").
 * 'malformed' is the sum of all the others. */
typedef struct WireStats {
        uint64_t malformed;     /* network.recv_malformed */
        uint64_t bad_version;   /* network.recv_bad_version: wrong protocol version */
        uint64_t bad_header;    /* network.recv_bad_header: malformed header */
        uint64_t bad_payload;   /* network.recv_bad_payload: malformed payload */
        uint64_t bad_type;      /* network.recv_bad_type: bad message type */
        uint64_t truncated;     /* network.recv_truncated: truncated message */
        uint64_t bad_size;      /* network.recv_bad_size: bad message size */
} WireStats;

/* Count one rejection of the given reason (NULL stats: nothing). */
void wire_stats_count(WireStats *s, WireReason r);

typedef struct WireHeader {
        uint8_t version;
        uint8_t type;           /* raw nibble, 0-15 */
        uint8_t flags;
        uint16_t len;           /* whole message, header included */
        uint32_t seq;
} WireHeader;

/* One message of a datagram, as framed: 'data' points at its header, 'size' == hdr.len. */
typedef struct WireFrame {
        WireHeader hdr;
        const uint8_t *data;
        size_t size;
} WireFrame;

/* What a header says the message is (spec §1.4, §2). */
typedef enum WireClass {
        WIRE_CLASS_DATA,        /* type <= 5, flags within HELLO|HELLO_BACK */
        WIRE_CLASS_CONTROL,     /* type 10 with ACK, NACK, RESYNC or ALIVE */
        WIRE_CLASS_BAD,
        _WIRE_CLASS_MAX,
        _WIRE_CLASS_INVALID = -EINVAL,
} WireClass;

/* How the sync protocol classifies headers: FT-FW and NOTRACK look at type and flags; ALARM only
 * at the flags, so that a message of an invalid type without control flags reaches the payload
 * stage and counts "bad message type". Control messages are type 10 in both. */
typedef enum WireClassify {
        WIRE_CLASSIFY_FULL,
        WIRE_CLASSIFY_FLAGS_ONLY,
} WireClassify;

WireClass wire_header_classify(const WireHeader *h, WireClassify how);

/* Read the 8 header bytes at p (at least WIRE_HEADER_SIZE readable). */
void wire_header_parse(const uint8_t *p, WireHeader *ret);

/*
 * Datagram framing (spec §1.6 steps 1-5). Call with *offset = 0, then repeatedly:
 *   > 0: *ret is the next message (version 1), *offset moved past it;
 *   0:   the datagram is used up;
 *   < 0: one of the WireReason errnos; counted in stats. If the reason lets the receiver carry on
 *        (bad version: the message is skipped) *offset is past the message, otherwise it is set to
 *        'size' so that the next call returns 0.
 */
int wire_frame_next(const uint8_t *buf, size_t size, size_t *offset, WireFrame *ret,
                    WireStats *stats);

typedef enum WireKind {
        WIRE_KIND_CONTROL,
        WIRE_KIND_CT,
        WIRE_KIND_EXPECT,
        _WIRE_KIND_MAX,
        _WIRE_KIND_INVALID = -EINVAL,
} WireKind;

/* A decoded message. */
typedef struct WireMessage {
        WireHeader hdr;
        WireKind kind;
        union {
                struct {
                        uint32_t from, to;      /* ACK, NACK, RESYNC; 0 otherwise */
                } control;
                CtEntry ct;
                CtExpect exp;
        };
} WireMessage;

/* Decode the TLV body of a conntrack / expectation message (what follows the 8-byte header).
 * 0 or a WireReason errno; *ret is filled only on success. Not counted anywhere. */
int wire_decode_ct(const uint8_t *body, size_t size, CtEntry *ret);
int wire_decode_expect(const uint8_t *body, size_t size, CtExpect *ret);

/* Classify and decode one framed message (spec §1.6 steps 6-7); rejections counted in stats. */
int wire_frame_decode(const WireFrame *f, WireClassify how, WireMessage *ret, WireStats *stats);

/* Walk a whole datagram: frame, classify, decode; cb is called for every good message, in order.
 * Returns the number of good messages, or the first negative value cb returned (which stops the
 * walk). Rejections are counted in stats and do not make the call fail. */
typedef int (*WireMessageFunc)(const WireMessage *m, const WireFrame *f, void *userdata);
int wire_datagram_decode(const uint8_t *buf, size_t size, WireClassify how, WireStats *stats,
                         WireMessageFunc cb, void *userdata);

/* Encoding. Each returns the message length (a multiple of 4) or -ENOBUFS if 'size' is too small
 * (-EINVAL for an unusable type/object). Attribute order is exactly 1.4.7's (spec §1.7, §1.8). */
typedef struct WireEncodeOptions {
        bool timeout;           /* send TIMEOUT: the sender has no CommitTimeout */
        bool tcp_wscale;        /* send TCP_WSCALE_*: the sender has TCPWindowTracking on */
} WireEncodeOptions;

/* type: WIRE_CT_NEW/UPD/DEL; flags: HELLO bits only. Attributes are sent as present in e->attrs. */
int wire_encode_ct(uint8_t *buf, size_t size, WireType type, uint8_t flags, uint32_t seq,
                   const CtEntry *e, const WireEncodeOptions *o);
/* type: WIRE_EXP_NEW/UPD/DEL. */
int wire_encode_expect(uint8_t *buf, size_t size, WireType type, uint8_t flags, uint32_t seq,
                       const CtExpect *x, const WireEncodeOptions *o);
/* Control message: 16 bytes with from/to if flags has ACK, NACK or RESYNC, else 8 (ALIVE). */
int wire_encode_control(uint8_t *buf, size_t size, uint8_t flags, uint32_t seq, uint32_t from,
                        uint32_t to);

/* The link buffer size 1.4.7 derives from an interface MTU: MTU - 28 (UDP/multicast), MTU - 40
 * (TCP). 0 if the MTU is too small. */
size_t wire_mtu_payload(unsigned mtu, bool tcp);

/* A datagram being filled. A message is appended while len + msglen < capacity (strictly, as
 * 1.4.7 does); otherwise the caller sends the datagram and resets the builder. */
typedef struct WireBuilder {
        uint8_t *buf;
        size_t capacity;
        size_t len;
        size_t n_messages;
} WireBuilder;

void wire_builder_init(WireBuilder *b, uint8_t *buf, size_t capacity);
void wire_builder_reset(WireBuilder *b);
/* 0: appended; -ENOSPC: does not fit now (send and reset first); -EMSGSIZE: can never fit. */
int wire_builder_append(WireBuilder *b, const uint8_t *msg, size_t len);
