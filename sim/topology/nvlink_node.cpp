// The scale-up part of every topology: a node's GPUs on one NVSwitch fabric, and one NIC per GPU.
//
// An HGX H100/H800 board joins its 8 GPUs through 4 NVSwitch chips, each GPU with NVLink to all of them; any GPU
// reaches any other at the GPU's full NVLink bandwidth, so the fabric is modelled as one logical crossbar vertex
// per node and one link per GPU carrying that GPU's NVLink bandwidth. Datasheets quote it with both directions
// summed (H800: 400 GB/s, H100: 900 GB/s; public-figures.md §5), so each direction gets half.
#include "topology/builder.hpp"

namespace fleetsim::topology {

void build_nvlink_nodes(const ClusterSpec& cluster, GraphBuilder& builder) {
  Topology& topology = builder.topology();
  const std::int64_t per_node = cluster.gpus_per_node;
  const double nvlink_per_direction = cluster.gpu.nvlink_bandwidth_bytes_per_s / 2.0;
  // The GPU-to-NIC link is sized to the NIC: a NIC's host interface is provisioned for its line rate (ConnectX-7 at
  // 400 Gb/s = 50 GB/s sits on PCIe Gen5 x16, about 63 GB/s per direction: PCI-SIG PCIe 5.0, 32 GT/s x 16 lanes,
  // 128b/130b), so the port, not PCIe, is the bottleneck and the link carries the NIC's bandwidth.
  const double nic = cluster.network.nic_bandwidth_bytes_per_s;
  topology.nvlink_bandwidth_bytes_per_s = nvlink_per_direction;
  topology.gpus.reserve(static_cast<std::size_t>(cluster.gpus));
  topology.gpu_ports.reserve(static_cast<std::size_t>(cluster.gpus));

  for (std::int64_t node = 0; node < topology.nodes; ++node) {
    const auto node32 = static_cast<std::int32_t>(node);
    const VertexId nvswitch = builder.add_device({VertexKind::nvswitch, node32, -1, -1, -1, node});
    for (std::int64_t local = 0; local < per_node; ++local) {
      const std::int64_t rank = node * per_node + local;
      const auto local32 = static_cast<std::int32_t>(local);
      GpuPort port;
      port.node = node32;
      port.rank_in_node = local32;
      port.gpu = builder.add_device({VertexKind::gpu, node32, local32, -1, -1, rank});
      port.nic = builder.add_device({VertexKind::nic, node32, local32, -1, -1, rank});
      port.nvlink = builder.add_link(port.gpu, nvswitch, LinkKind::nvlink, nvlink_per_direction, kNvlinkLinkLatencyS);
      port.pcie = builder.add_link(port.gpu, port.nic, LinkKind::pcie_nic, nic, kHostToNicLatencyS);
      topology.gpus.push_back(port.gpu);
      topology.gpu_ports.push_back(port);
    }
  }
}

}  // namespace fleetsim::topology
