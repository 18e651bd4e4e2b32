/* rail_monitor: what rail_monitor.bpf.c and the C++ loader (rail_bpf.cc)
 * share. Plain C; the only copy. Every struct is a whole number of u64 so that
 * per-CPU values need no padding rules. */
#pragma once

#include <linux/types.h>

#include "ebpf/fabric_abi.h"

/* Direction of a packet on the rail, as seen by the host. */
enum rm_direction {
  RM_INGRESS = 0,
  RM_EGRESS = 1,
  RM_DIRECTIONS = 2,
};

/* Map rm_class_stats (BPF_MAP_TYPE_PERCPU_ARRAY): key rm_class_key(dir, class). */
#define RM_CLASS_SLOTS (RM_DIRECTIONS * RAILYARD_FABRIC_CLASSES)
static inline __u32 rm_class_key(__u32 direction, __u32 traffic_class) {
  return direction * RAILYARD_FABRIC_CLASSES + traffic_class;
}

/* Fabric datagrams of one class in one direction. A UDP GSO super-datagram
 * counts as the datagrams it will become on the wire. */
struct rm_class_stats {
  __u64 packets;      /* fabric datagrams */
  __u64 bytes;        /* UDP payload bytes (fabric header + body), as the fabric counts them */
  __u64 data_packets; /* of which DATA */
  __u64 data_bytes;
  __u64 ecn_ce;       /* datagrams whose IPv4 header carried CE (ECN == 3) */
};

/* Map rm_type_stats (BPF_MAP_TYPE_PERCPU_ARRAY, value __u64): fabric datagrams
 * by packet type 1..6, key rm_type_key(dir, type); slots 0 and 7 stay 0 (a
 * datagram of another type is malformed). */
#define RM_TYPE_SLOTS (RM_DIRECTIONS * RAILYARD_FABRIC_TYPE_SLOTS)
static inline __u32 rm_type_key(__u32 direction, __u32 type) {
  return direction * RAILYARD_FABRIC_TYPE_SLOTS + type;
}

/* Map rm_dir_stats (BPF_MAP_TYPE_PERCPU_ARRAY): key enum rm_direction. */
struct rm_dir_stats {
  __u64 malformed;   /* UDP to/from the fabric port that is no fabric datagram (short, bad magic, class or type) */
  __u64 gso_skbs;    /* GSO super-datagrams (each also counted as its segments) */
  __u64 truncated;   /* GSO super-datagrams with more segments than the program walks; the rest count as the last walked class */
  __u64 load_errors; /* bpf_skb_load_bytes failures (should stay 0) */
};

/* Segments of one GSO skb that the program classifies one by one (the kernel's
 * UDP_MAX_SEGMENTS is 64 or 128 depending on the version). */
#define RM_MAX_GSO_SEGMENTS 128

/* Program names as the kernel reports them (BPF_OBJ_NAME_LEN = 16 with the NUL):
 * how the loader recognises its own filters left behind by a crashed daemon. */
#define RM_PROG_INGRESS_NAME "railyard_rm_in"
#define RM_PROG_EGRESS_NAME "railyard_rm_eg"
/* tc filter handle and priority of both filters (ingress and egress). */
#define RM_TC_HANDLE 0x5259
#define RM_TC_PRIORITY 0x5259
