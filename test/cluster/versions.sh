# Pinned versions of the local Kubernetes. Each was verified to build with Go 1.26 through the
# Go module proxy. Changing one rebuilds only that component (the cache is keyed by version).
K8S_VERSION=1.37.2
ETCD_VERSION=3.6.16
KWOK_VERSION=0.8.0
HELM_VERSION=3.22.0
COREDNS_VERSION=1.15.0
GO_MIN_VERSION=1.26.0

LPO_CACHE_DIR="${LPO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/license-pair-operator}"
K8S_BIN_DIR="$LPO_CACHE_DIR/kubernetes-${K8S_VERSION}"
