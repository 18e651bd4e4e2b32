#include "drivers/nic/verbs/verbs_ops.h"

namespace railyard::verbs {

std::string_view link_layer_name(LinkLayer l) {
  switch (l) {
    case LinkLayer::infiniband: return "infiniband";
    case LinkLayer::ethernet: return "ethernet";
    case LinkLayer::unknown: break;
  }
  return "unknown";
}

std::string_view wc_status_name(WcStatus s) {
  switch (s) {
    case WcStatus::success: return "success";
    case WcStatus::retry_exceeded: return "retry exceeded";
    case WcStatus::rnr_retry_exceeded: return "RNR retry exceeded";
    case WcStatus::remote_access: return "remote access error";
    case WcStatus::remote_op: return "remote operation error";
    case WcStatus::local_protection: return "local protection error";
    case WcStatus::local_qp_op: return "local QP operation error";
    case WcStatus::flushed: return "flushed";
    case WcStatus::other: break;
  }
  return "other error";
}

}  // namespace railyard::verbs
