# Pinned versions of the local Kubernetes. Each was verified to build with Go 1.26 through the
# Go module proxy. Changing one rebuilds only that component (the cache is keyed by version).
K8S_VERSION=1.37.2
ETCD_VERSION=3.6.16
KWOK_VERSION=0.8.0
HELM_VERSION=3.22.0
COREDNS_VERSION=1.15.0
# The NetworkPolicy engine: kube-router's firewall (network policy controller) only. Upstream
# github.com/cloudnativelabs/kube-router/v2 is served only at v2.1.0, which has reported security
# flaws; k3s's fork github.com/k3s-io/kube-router/v2 is served at v2.6.3-k3s1 (upstream v2.6.3
# plus k3s's NFLOG logging of dropped packets). See docs/local-cluster.md.
KUBE_ROUTER_VERSION=2.6.3
KUBE_ROUTER_MODULE_VERSION=v2.6.3-k3s1
GO_MIN_VERSION=1.26.0

LPO_CACHE_DIR="${LPO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/license-pair-operator}"
K8S_BIN_DIR="$LPO_CACHE_DIR/kubernetes-${K8S_VERSION}"
