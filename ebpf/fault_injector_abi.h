/* fault_injector: what fault_injector.bpf.c and the C++ loader (rail_bpf.cc)
 * share. Plain C; the only copy. */
#pragma once

#include <linux/types.h>

#include "ebpf/fabric_abi.h"

/* Probabilities are u32 thresholds: an event happens when
 * bpf_get_prandom_u32() < threshold, so p = threshold / 2^32; FI_ALWAYS
 * (0xffffffff) means exactly 1. */
#define FI_NEVER 0u
#define FI_ALWAYS 0xffffffffu

/* class_mask bits: 1 << traffic class. */
#define FI_CLASS_ACTIVATION (1u << 0)
#define FI_CLASS_KV (1u << 1)
#define FI_CLASS_ALL (FI_CLASS_ACTIVATION | FI_CLASS_KV)

/* Map fi_config (BPF_MAP_TYPE_ARRAY, one entry, key 0): read per packet, so a
 * change applies to the next packet. All zero: the injector passes everything. */
struct fi_config {
  __u32 drop_threshold; /* drop a matching fabric datagram with this probability */
  __u32 ecn_threshold;  /* else set CE on a matching ECN-capable datagram with this probability */
  __u32 class_mask;     /* classes affected (FI_CLASS_*) */
  __u32 reserved;
};

/* Map fi_stats (BPF_MAP_TYPE_PERCPU_ARRAY): key = traffic class (0, 1). */
struct fi_stats {
  __u64 seen;       /* fabric datagrams of this class */
  __u64 matched;    /* of which the class mask selected (the base of the drop ratio) */
  __u64 dropped;    /* XDP_DROP */
  __u64 marked;     /* CE set (ECT(0)/ECT(1) -> CE, IPv4 checksum updated) */
  __u64 not_ect;    /* chosen for a mark but Not-ECT, left alone (a router may not mark those) */
  __u64 already_ce; /* chosen for a mark but already CE */
};

/* Datagrams that are UDP to/from the fabric port but no fabric datagram are
 * passed untouched and counted here: map fi_stats key FI_STATS_MALFORMED_KEY, field seen. */
#define FI_STATS_MALFORMED_KEY RAILYARD_FABRIC_CLASSES
#define FI_STATS_SLOTS (RAILYARD_FABRIC_CLASSES + 1)

#define FI_PROG_NAME "railyard_fi"
