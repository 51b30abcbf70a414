#!/usr/bin/env bash
# Generates the test cluster's PKI and kubeconfigs with openssl into $TC_PKI (kept while
# the cluster's state exists; testcluster-down removes it). Idempotent: an existing file
# is kept. A few seconds (EC P-256 keys; the service-account key is RSA 2048).
set -euo pipefail
# shellcheck source=env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"

mkdir -p "$TC_PKI"
chmod 700 "$TC_PKI"
cd "$TC_PKI"

eckey() { [ -s "$1" ] || openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

if [ ! -s ca.crt ]; then
  eckey ca.key
  openssl req -x509 -new -key ca.key -sha256 -days 3650 -subj "/CN=nalabo-testcluster-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out ca.crt 2>/dev/null
fi
if [ ! -s sa.key ]; then
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key 2>/dev/null
  openssl pkey -in sa.key -pubout -out sa.pub 2>/dev/null
fi

# cert NAME SUBJECT USAGE [SAN]: a leaf certificate signed by the CA.
cert() {
  local name=$1 subj=$2 usage=$3 san=${4:-}
  [ -s "$name.crt" ] && return 0
  eckey "$name.key"
  openssl req -new -key "$name.key" -subj "$subj" -out "$name.csr" 2>/dev/null
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"
    [ -n "$san" ] && echo "subjectAltName=$san"
  } > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 -days 3650 \
    -extfile "$name.ext" -out "$name.crt" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}

host=$(hostname)
cert apiserver "/CN=kube-apiserver" serverAuth \
  "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,DNS:$TC_NODE_NAME,DNS:$host,IP:127.0.0.1,IP:$TC_KUBERNETES_SVC_IP,IP:$TC_NODE_IP"
cert kubelet-server "/CN=$TC_NODE_NAME" serverAuth "DNS:$TC_NODE_NAME,DNS:$host,DNS:localhost,IP:$TC_NODE_IP,IP:127.0.0.1"
cert admin "/O=system:masters/CN=nalabo-testcluster-admin" clientAuth
cert kube-controller-manager "/CN=system:kube-controller-manager" clientAuth
cert kube-scheduler "/CN=system:kube-scheduler" clientAuth
cert kubelet "/O=system:nodes/CN=system:node:$TC_NODE_NAME" clientAuth
cert kube-proxy "/CN=system:kube-proxy" clientAuth
cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
cert front-proxy-client "/CN=front-proxy-client" clientAuth
# The NetworkPolicy enforcer (kube-network-policies); RBAC in scripts/testcluster-up.sh.
cert kube-network-policies "/CN=system:kube-network-policies" clientAuth
rm -f ca.srl

# kubeconfig FILE USER SERVER: a self-contained kubeconfig (certificates embedded).
kubeconfig() {
  local file=$1 user=$2 server=$3
  [ -s "$file" ] && return 0
  cat > "$file.tmp" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: nalabo-testcluster
  cluster:
    server: $server
    certificate-authority-data: $(base64 -w0 < ca.crt)
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 < "$user.crt")
    client-key-data: $(base64 -w0 < "$user.key")
contexts:
- name: nalabo-testcluster
  context:
    cluster: nalabo-testcluster
    user: $user
current-context: nalabo-testcluster
KUBECONFIG
  chmod 600 "$file.tmp"
  mv "$file.tmp" "$file"
}
local_server=https://127.0.0.1:$TC_APISERVER_PORT
for u in admin kube-controller-manager kube-scheduler kube-proxy kube-network-policies; do
  kubeconfig "$u.kubeconfig" "$u" "$local_server"
done
# The kubelet talks to the apiserver on the node's address, as on a real node.
kubeconfig kubelet.kubeconfig kubelet "https://$TC_NODE_IP:$TC_APISERVER_PORT"
