// SPDX-License-Identifier: Apache-2.0
/* Fault injector: XDP on a rail's ingress. Of the fabric's datagrams (UDP
 * to/from the fabric port with a fabric header) whose class the
 * configuration selects, drops a fraction, or sets ECN CE on a fraction of
 * the ECN-capable ones (IPv4 checksum updated incrementally, RFC 1624). The
 * configuration is one map entry read per packet, so `railctl fault` takes
 * effect at the next packet. Everything else passes untouched. */

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "ebpf/fault_injector_abi.h"

/* Set by the loader before load (host byte order). */
const volatile __u16 fabric_port = RAILYARD_FABRIC_PORT_DEFAULT;

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct fi_config);
} fi_config SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, FI_STATS_SLOTS);
  __type(key, __u32);
  __type(value, struct fi_stats);
} fi_stats SEC(".maps");

static __always_inline int chance(__u32 threshold) {
  if (threshold == FI_NEVER) return 0;
  if (threshold == FI_ALWAYS) return 1;
  return bpf_get_prandom_u32() < threshold;
}

/* Sets CE in the TOS byte and updates the header checksum for the changed
 * 16-bit word (version/IHL + TOS): HC' = ~(~HC + ~m + m'). */
static __always_inline void set_ce(struct iphdr *ip) {
  __u16 *word = (__u16 *)ip;
  __u16 old = *word;
  ip->tos |= RAILYARD_ECN_CE;
  __u32 sum = (__u16)~ip->check;
  sum += (__u16)~old;
  sum += *word;
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  ip->check = (__u16)~sum;
}

SEC("xdp")
int railyard_fi(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *data_end = (void *)(long)ctx->data_end;

  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP)) return XDP_PASS;
  struct iphdr *ip = (void *)(eth + 1);
  if ((void *)(ip + 1) > data_end) return XDP_PASS;
  /* IPv4 options would put the UDP header at a variable offset: packet
   * pointer arithmetic with a variable needs CAP_PERFMON (the verifier's
   * Spectre v1 rules), which railyardd.service does not grant. The fabric
   * never sends options, so such packets are simply not ours to touch. */
  if (ip->version != 4 || ip->protocol != IPPROTO_UDP || ip->ihl != 5) return XDP_PASS;
  if (ip->frag_off & bpf_htons(0x3fff)) return XDP_PASS;
  struct udphdr *udp = (void *)(ip + 1);
  if ((void *)(udp + 1) > data_end) return XDP_PASS;
  __u16 port = bpf_htons(fabric_port);
  if (udp->dest != port && udp->source != port) return XDP_PASS;

  __u8 *fh = (__u8 *)(udp + 1);
  __u32 key = FI_STATS_MALFORMED_KEY;
  if (bpf_ntohs(udp->len) < sizeof(*udp) + RAILYARD_FABRIC_MIN_DATAGRAM ||
      (void *)(fh + RAILYARD_FABRIC_MIN_DATAGRAM) > data_end ||
      ((fh[0] << 8) | fh[1]) != RAILYARD_FABRIC_MAGIC || fh[RAILYARD_FABRIC_OFF_CLASS] >= RAILYARD_FABRIC_CLASSES) {
    struct fi_stats *bad = bpf_map_lookup_elem(&fi_stats, &key);
    if (bad) bad->seen++;
    return XDP_PASS;
  }
  __u32 cls = fh[RAILYARD_FABRIC_OFF_CLASS];

  key = cls;
  struct fi_stats *st = bpf_map_lookup_elem(&fi_stats, &key);
  __u32 zero = 0;
  struct fi_config *cfg = bpf_map_lookup_elem(&fi_config, &zero);
  if (!st || !cfg) return XDP_PASS;
  st->seen += 1;
  if (!(cfg->class_mask & (1u << cls))) return XDP_PASS;
  st->matched += 1;

  /* Counters are added unconditionally (0 or 1): clang would otherwise merge
   * "A++ here, B++ there" into one increment at a path-dependent offset,
   * which the verifier refuses without CAP_PERFMON (Spectre v1 rules), and
   * railyardd.service does not grant CAP_PERFMON. */
  __u64 drop = chance(cfg->drop_threshold);
  st->dropped += drop;
  if (drop) return XDP_DROP;

  __u64 pick = chance(cfg->ecn_threshold);
  __u8 ecn = ip->tos & RAILYARD_ECN_MASK;
  __u64 not_ect = pick & (ecn == RAILYARD_ECN_NOT_ECT);
  __u64 already = pick & (ecn == RAILYARD_ECN_CE);
  __u64 mark = pick & !not_ect & !already;
  st->not_ect += not_ect;
  st->already_ce += already;
  st->marked += mark;
  if (mark) set_ce(ip);
  return XDP_PASS;
}

char LICENSE[] SEC("license") = "Apache-2.0";
