// SPDX-License-Identifier: Apache-2.0
/* Rail monitor: tc clsact programs on a rail's ingress and egress that count
 * the fabric's datagrams per (direction, traffic class): packets, UDP payload
 * bytes, DATA packets, IPv4 ECN CE marks; by packet type; and UDP datagrams on
 * the fabric port that are no fabric datagram. They never change or drop a
 * packet and return TC_ACT_UNSPEC, so filters after them still run.
 *
 * tc rather than XDP: tc sees both directions, and XDP on the rail belongs to
 * the fault injector or to DPDK's af_xdp port (see ebpf/README.md).
 *
 * A UDP GSO super-datagram (the UDP rail sends batches with UDP_SEGMENT, and a
 * veth passes them unsegmented) is one skb here: it is counted as the
 * datagrams it becomes on the wire, each classified from its own header. */

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "ebpf/rail_monitor_abi.h"

/* Set by the loader before load (host byte order). */
const volatile __u16 fabric_port = RAILYARD_FABRIC_PORT_DEFAULT;

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, RM_CLASS_SLOTS);
  __type(key, __u32);
  __type(value, struct rm_class_stats);
} rm_class_stats SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, RM_DIRECTIONS);
  __type(key, __u32);
  __type(value, struct rm_dir_stats);
} rm_dir_stats SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, RM_TYPE_SLOTS);
  __type(key, __u32);
  __type(value, __u64);
} rm_type_stats SEC(".maps");

/* The verifier's Spectre v1 rules (no CAP_PERFMON: railyardd.service does not
 * grant it) refuse map-value pointer arithmetic whose offset differs between
 * paths, which is what clang makes of "counter A++ here, counter B++ there"
 * when it merges the two increments. So: per-packet-type counters are a map
 * keyed by type (no pointer arithmetic at all), and the error counters are
 * added unconditionally with 0 or 1. */

struct fabric_peek {
  __u8 magic_hi;
  __u8 magic_lo;
  __u8 version;
  __u8 type;
  __u8 traffic_class;
};

static __always_inline void count_segment(__u32 direction, __u32 type, __u32 traffic_class, __u64 segments,
                                          __u64 bytes, __u64 ce) {
  if (direction >= RM_DIRECTIONS || traffic_class >= RAILYARD_FABRIC_CLASSES || type < 1 ||
      type > RAILYARD_FABRIC_TYPE_MAX)
    return;
  __u32 key = rm_class_key(direction, traffic_class);
  struct rm_class_stats *cs = bpf_map_lookup_elem(&rm_class_stats, &key);
  if (cs) {
    __u64 data = type == RAILYARD_FABRIC_TYPE_DATA;
    cs->packets += segments;
    cs->bytes += bytes;
    cs->ecn_ce += ce * segments;
    cs->data_packets += data * segments;
    cs->data_bytes += data * bytes;
  }
  key = rm_type_key(direction, type);
  __u64 *by_type = bpf_map_lookup_elem(&rm_type_stats, &key);
  if (by_type) *by_type += segments;
}

/* Result of classify(): > 0 a fabric datagram, counted (type << 1 | class). */
#define SEGMENT_MALFORMED 0
#define SEGMENT_LOAD_ERROR (-1)

/* Classifies and counts one datagram (one segment of a GSO skb) whose UDP
 * payload of `length` bytes starts at `off`. A global function: the verifier
 * checks it once, not once per iteration of the segment walk and per
 * combination of what earlier segments were. */
__attribute__((noinline)) int classify(struct __sk_buff *skb, __u32 off, __u32 length, __u32 direction, __u32 ce) {
  if (length < RAILYARD_FABRIC_MIN_DATAGRAM) return SEGMENT_MALFORMED;
  struct fabric_peek h = {};
  if (bpf_skb_load_bytes(skb, off, &h, sizeof h) < 0) return SEGMENT_LOAD_ERROR;
  if (((h.magic_hi << 8) | h.magic_lo) != RAILYARD_FABRIC_MAGIC || h.traffic_class >= RAILYARD_FABRIC_CLASSES ||
      h.type < 1 || h.type > RAILYARD_FABRIC_TYPE_MAX)
    return SEGMENT_MALFORMED;
  count_segment(direction, h.type, h.traffic_class, 1, length, ce != 0);
  return (h.type << 1) | h.traffic_class;
}

/* The walk over a GSO skb's segments, run by bpf_loop(): a plain loop of up to
 * 128 iterations is more than the verifier takes without CAP_PERFMON, where
 * it also explores every branch's speculative path. */
struct segment_walk {
  struct __sk_buff *skb;
  __u32 payload; /* offset of the first segment's UDP payload */
  __u32 total;   /* UDP payload bytes of all segments */
  __u32 segment_size;
  __u32 segments;
  __u32 direction;
  __u32 ce;
  __u32 done; /* bytes walked */
  __u32 walked;
  int last; /* classify() of the last segment walked */
  __u64 malformed;
  __u64 load_errors;
};

static long walk_segment(__u32 k, void *arg) {
  struct segment_walk *w = arg;
  if (k >= w->segments || (k > 0 && w->done >= w->total)) return 1;
  __u32 length = w->total - w->done;
  if (length > w->segment_size) length = w->segment_size;
  int r = classify(w->skb, w->payload + w->done, length, w->direction, w->ce);
  w->done += length;
  w->walked += 1;
  w->last = r;
  w->malformed += r == SEGMENT_MALFORMED;
  w->load_errors += r == SEGMENT_LOAD_ERROR;
  return 0;
}

static __always_inline int account(struct __sk_buff *skb, __u32 direction) {
  __u32 dir_key = direction;
  struct rm_dir_stats *ds = bpf_map_lookup_elem(&rm_dir_stats, &dir_key);
  if (!ds) return TC_ACT_UNSPEC;
  if (skb->protocol != bpf_htons(ETH_P_IP)) return TC_ACT_UNSPEC;

  struct iphdr ip;
  if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof ip) < 0) return TC_ACT_UNSPEC;
  if (ip.version != 4 || ip.protocol != IPPROTO_UDP || ip.ihl < 5) return TC_ACT_UNSPEC;
  /* A fragment (MF or an offset) is no whole fabric datagram; the fabric never fragments. */
  if (ip.frag_off & bpf_htons(0x3fff)) return TC_ACT_UNSPEC;
  __u32 l4 = ETH_HLEN + ip.ihl * 4;

  struct udphdr udp;
  if (bpf_skb_load_bytes(skb, l4, &udp, sizeof udp) < 0) return TC_ACT_UNSPEC;
  __u16 port = bpf_htons(fabric_port);
  if (udp.dest != port && udp.source != port) return TC_ACT_UNSPEC;

  __u32 payload = l4 + sizeof udp;
  __u32 ce = (ip.tos & RAILYARD_ECN_MASK) == RAILYARD_ECN_CE;
  if (skb->gso_segs <= 1 || skb->gso_size == 0 || skb->len <= payload) {
    /* One datagram: the common case, no walk. */
    __u32 udp_len = bpf_ntohs(udp.len);
    int r = classify(skb, payload, udp_len > sizeof udp ? udp_len - sizeof udp : 0, direction, ce);
    ds->malformed += r == SEGMENT_MALFORMED;
    ds->load_errors += r == SEGMENT_LOAD_ERROR;
    return TC_ACT_UNSPEC;
  }

  struct segment_walk w = {
      .skb = skb,
      .payload = payload,
      .total = skb->len - payload,
      .segment_size = skb->gso_size,
      .segments = skb->gso_segs,
      .direction = direction,
      .ce = ce,
  };
  bpf_loop(RM_MAX_GSO_SEGMENTS, walk_segment, &w, 0);
  ds->gso_skbs += 1;
  ds->malformed += w.malformed;
  ds->load_errors += w.load_errors;
  if (w.walked < w.segments && w.done < w.total && w.last > 0) {
    /* More segments than the walk covers: the rest count as the last datagram seen. */
    ds->truncated += 1;
    count_segment(direction, (__u32)w.last >> 1, (__u32)w.last & 1, w.segments - w.walked, w.total - w.done, ce);
  }
  return TC_ACT_UNSPEC;
}

SEC("tc")
int railyard_rm_in(struct __sk_buff *skb) { return account(skb, RM_INGRESS); }

SEC("tc")
int railyard_rm_eg(struct __sk_buff *skb) { return account(skb, RM_EGRESS); }

char LICENSE[] SEC("license") = "Apache-2.0";
