/* The few facts about the fabric's wire format (fabric/wire.h) that the BPF
 * programs need to recognise and classify a datagram. Plain C, included by the
 * BPF programs' ABI headers. tests/unit/ebpf checks the magic, header size,
 * class count and type range against fabric/wire.h with static_assert; the
 * field offsets are checked only by its packet tests (frames built with
 * fabric::encode_header must classify as their class and type). */
#pragma once

#include <linux/types.h>

/* UDP port of the fabric when the configuration does not say otherwise. */
#define RAILYARD_FABRIC_PORT_DEFAULT 7470
/* Every datagram: u16 magic (big-endian) at 0, u8 version at 2, u8 type at 3,
 * u8 class at 4; none is shorter than RAILYARD_FABRIC_MIN_DATAGRAM bytes. */
#define RAILYARD_FABRIC_MAGIC 0x5259
#define RAILYARD_FABRIC_MIN_DATAGRAM 24
#define RAILYARD_FABRIC_OFF_TYPE 3
#define RAILYARD_FABRIC_OFF_CLASS 4
/* Traffic classes: 0 activation, 1 kv. */
#define RAILYARD_FABRIC_CLASSES 2
/* Packet types are 1..8 (DATA, ACK, HANDSHAKE_INIT, HANDSHAKE_REPLY, PROBE,
 * PROBE_REPLY, MESSAGE, HANDSHAKE_CONFIRM); counters indexed by type have 9 slots, [0] unused. */
#define RAILYARD_FABRIC_TYPE_DATA 1
#define RAILYARD_FABRIC_TYPE_MAX 8
#define RAILYARD_FABRIC_TYPE_SLOTS 9

/* IPv4 ECN field (low two bits of TOS). */
#define RAILYARD_ECN_MASK 0x03
#define RAILYARD_ECN_NOT_ECT 0x00
#define RAILYARD_ECN_CE 0x03
