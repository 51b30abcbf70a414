# A workspace from an image that is present on the Docker host (or pulled once for
# the whole class, with the provider's registry_auth).
resource "nalabo_workshop_template" "intro" {
  name                = "docker-intro"
  infrastructure_type = "docker"
  workspace {
    image       = "busybox:1.37"
    command     = ["sleep", "infinity"]
    env         = { LANG = "C.UTF-8" }
    working_dir = "/workspace"
    ports       = [8080]
  }
  # Defaults of each session (a session may override them).
  resources = { cpu = "1000m", memory = "2Gi", storage = "10Gi" }
  duration  = "4h"
  # DNS and the internet, not the metadata endpoint, the host or other sessions
  # (default); "open" lifts every egress rule, "none" cuts the network (no ports).
  egress = "restricted"

  # Shown to participants next to their terminal on the gateway's page (Markdown,
  # raw HTML dropped). Not part of the digest: editing it keeps the sessions.
  instructions = <<-EOT
    # Docker intro
    1. Write `hello` into `/workspace/hello.txt`.
    2. Open the web port **8080** from the links above the terminal.
    3. Press **Check my work**.
  EOT

  # Grading checks, stored with the template. Changing only these updates the
  # template in place: the sessions built from it are kept.
  validations = [
    {
      name               = "workspace-exists"
      command            = ["test", "-d", "/workspace"]
      expected_exit_code = 0
      timeout            = "10s"
    },
    {
      name           = "hello-written"
      command        = ["cat", "/workspace/hello.txt"]
      output_pattern = "^hello"
    },
  ]
}

# A workspace image built by the provider from a Dockerfile on the machine that runs
# Terraform. A change to any file of the context changes the digest (and the id), so
# the sessions built from the template are replaced.
resource "nalabo_workshop_template" "built" {
  name                = "python-basics"
  infrastructure_type = "docker"
  workspace {
    build {
      context    = "${path.module}/workspace"
      dockerfile = "Dockerfile"
      args       = { GREETING = "Welcome to Python basics" }
    }
  }
  resources = { cpu = "500m", memory = "512Mi" }
  duration  = "90m"
}

# A Kubernetes template: a locked-down namespace per session (Pod Security
# "restricted", a ResourceQuota and LimitRange from the session's resources,
# NetworkPolicies, a ServiceAccount bound to its own namespace), a workspace pod with
# kubectl and the participant's kubeconfig, and an nginx demo (a Deployment and its Service),
# applied by server-side apply and awaited the kstatus way. In namespace isolation a
# cluster-scoped document (a ClusterRole, say) is a plan-time error.
resource "nalabo_workshop_template" "k8s_intro" {
  name                = "k8s-intro"
  infrastructure_type = "kubernetes"
  isolation           = "namespace"
  pod_security        = "restricted"
  pre_pull            = true # the default: images pulled onto every node at template create
  workspace {
    image   = "alpine/k8s:1.31.4" # kubectl, helm and a shell
    command = ["sleep", "infinity"]
  }
  manifests = <<-EOT
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: nginx-demo
    spec:
      replicas: 1
      selector:
        matchLabels: {app: nginx-demo}
      template:
        metadata:
          labels: {app: nginx-demo}
        spec:
          securityContext:
            runAsNonRoot: true
            runAsUser: 101
            seccompProfile: {type: RuntimeDefault}
          containers:
          - name: web
            image: nginxinc/nginx-unprivileged:1.27
            ports: [{containerPort: 8080}]
            securityContext:
              allowPrivilegeEscalation: false
              capabilities: {drop: [ALL]}
    ---
    apiVersion: v1
    kind: Service
    metadata:
      name: nginx-demo
    spec:
      selector: {app: nginx-demo}
      ports: [{port: 80, targetPort: 8080}]
  EOT
  resources = { cpu = "2000m", memory = "4Gi", storage = "20Gi" }
  duration  = "4h"
  validations = [
    { name = "pods-running", command = ["sh", "-c", "kubectl get pods"], timeout = "30s" },
  ]
}

# A Kubernetes template with a virtual cluster per session (isolation "vcluster", the
# default): the participant is cluster-admin of their own vCluster, so cluster-scoped
# documents are allowed. vcluster_values is merged over the chart values the provider
# builds and its kubernetes.vcluster.values, last.
resource "nalabo_workshop_template" "k8s_admin" {
  name                = "k8s-admin"
  infrastructure_type = "kubernetes"
  workspace {
    image   = "alpine/k8s:1.31.4" # kubectl, helm and a shell
    command = ["sleep", "infinity"]
  }
  manifests       = <<-EOT
    apiVersion: rbac.authorization.k8s.io/v1
    kind: ClusterRole
    metadata:
      name: workshop-reader
    rules:
    - apiGroups: [""]
      resources: [pods]
      verbs: [get, list]
  EOT
  vcluster_values = <<-EOT
    controlPlane:
      coredns:
        deployment:
          replicas: 1
  EOT
  # Five vClusters started ahead: the first five sessions claim one each (ready in
  # seconds) instead of starting a control plane.
  warm_pool = 5
}
