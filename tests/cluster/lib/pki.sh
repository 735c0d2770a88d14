# Certificates for a local cluster, made with openssl: one CA, the API server's
# serving certificate, one client certificate per identity and the
# service-account signing key pair. ECDSA P-256 keys (PKCS#8 PEM): Go, OpenSSL
# and so the C++ client accept them, and making them is instant where RSA keys
# cost seconds on a loaded machine. Valid for 10 years: state directories are
# short-lived, but a long validity keeps a kept cluster usable.

# ng_pki_make DIR: writes ca.{crt,key}, apiserver.{crt,key}, sa.{key,pub} and
# client certificates admin, kube-controller-manager, kube-scheduler, kwok.
ng_pki_make() {
  local dir=$1
  mkdir -p "$dir"
  (
    cd "$dir"
    umask 077
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 -days 3650 \
      -keyout ca.key -out ca.crt -subj "/CN=nodeguard-local-ca" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null

    ng_pki_leaf apiserver "/CN=kube-apiserver" serverAuth \
      "DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:10.96.0.1"
    # system:masters bypasses authorization: the tests and the demo act as
    # cluster admins. Components get the identities the RBAC bootstrap roles
    # are bound to, as on a real control plane.
    ng_pki_leaf admin "/O=system:masters/CN=nodeguard-admin" clientAuth
    ng_pki_leaf kube-controller-manager "/CN=system:kube-controller-manager" clientAuth
    ng_pki_leaf kube-scheduler "/CN=system:kube-scheduler" clientAuth
    # kwok plays every kubelet and patches any node or pod: admin rights.
    ng_pki_leaf kwok "/O=system:masters/CN=kwok-controller" clientAuth

    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out sa.key 2>/dev/null
    openssl pkey -in sa.key -pubout -out sa.pub 2>/dev/null
    chmod 644 ./*.crt sa.pub
  )
}

# ng_pki_leaf NAME SUBJECT EKU [SANS]: NAME.{key,crt} signed by ca.* in $PWD.
ng_pki_leaf() {
  local name=$1 subject=$2 eku=$3 sans=${4:-}
  local ext
  ext=$(mktemp)
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature"
    echo "extendedKeyUsage=$eku"
    [ -n "$sans" ] && echo "subjectAltName=$sans"
  } >"$ext"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$name.key" -out "$name.csr" \
    -subj "$subject" 2>/dev/null
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
    -days 3650 -sha256 -extfile "$ext" -out "$name.crt" 2>/dev/null
  rm -f "$name.csr" "$ext"
}

# ng_kubeconfig OUT SERVER PKI USER: a kubeconfig with everything inline
# (certificate-authority-data, client-certificate-data, client-key-data), so
# it stays valid when copied elsewhere.
ng_kubeconfig() {
  local out=$1 server=$2 pki=$3 user=$4 cluster=$5
  local ca cert key
  ca=$(base64 -w0 <"$pki/ca.crt")
  cert=$(base64 -w0 <"$pki/$user.crt")
  key=$(base64 -w0 <"$pki/$user.key")
  (
    umask 077
    cat >"$out" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $cluster
  cluster:
    server: $server
    certificate-authority-data: $ca
users:
- name: $user
  user:
    client-certificate-data: $cert
    client-key-data: $key
contexts:
- name: $cluster
  context:
    cluster: $cluster
    user: $user
    namespace: default
current-context: $cluster
preferences: {}
EOF
  )
}
