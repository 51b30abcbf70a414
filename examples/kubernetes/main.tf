# A Kubernetes class: each participant gets a locked-down namespace (the "ns" track) or
# a virtual cluster of their own (the "admin" track), with a workspace pod holding
# kubectl and a kubeconfig for what they may reach.
terraform {
  required_version = ">= 1.8"
  required_providers {
    nalabo = { source = "nalabo/nalabo" }
  }
}

variable "kubeconfig" {
  description = "Kubeconfig of the cluster (its current context); host + token work too."
  type        = string
  default     = "~/.kube/config"
}

# Templates live in the control namespace, created when missing.
provider "nalabo" {
  kubernetes {
    config_path = var.kubeconfig
    namespace   = "nalabo"
    # Chart values for every vCluster (merged under each template's vcluster_values).
    vcluster {
      control_plane_cpu    = "1000m"
      control_plane_memory = "1Gi"
    }
  }
}

variable "participants" {
  type    = map(string) # participant => "ns" or "admin"
  default = { ada = "ns", grace = "admin" }
}

# Namespace isolation: the participant's token reaches their namespace only; the
# manifests are applied there (a cluster-scoped document is a plan-time error).
resource "nalabo_workshop_template" "ns" {
  name                = "k8s-basics"
  infrastructure_type = "kubernetes"
  isolation           = "namespace"
  workspace {
    image   = "alpine/k8s:1.31.4" # kubectl, helm and a shell
    command = ["sleep", "infinity"]
  }
  manifests = <<-EOT
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
    spec:
      replicas: 1
      selector:
        matchLabels: {app: web}
      template:
        metadata:
          labels: {app: web}
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
      name: web
    spec:
      selector: {app: web}
      ports: [{port: 80, targetPort: 8080}]
  EOT
  resources = { cpu = "1000m", memory = "1Gi", storage = "2Gi" }
  duration  = "3h"
  validations = [
    { name = "web-ready", command = ["kubectl", "rollout", "status", "deployment/web", "--timeout=5s"], timeout = "30s" },
  ]
}

# vCluster isolation: the participant is cluster-admin of a virtual cluster; its
# manifests may be cluster-scoped (they stay inside it).
resource "nalabo_workshop_template" "admin" {
  name                = "k8s-admin"
  infrastructure_type = "kubernetes"
  isolation           = "vcluster"
  workspace {
    image   = "alpine/k8s:1.31.4"
    command = ["sleep", "infinity"]
  }
  manifests = <<-EOT
    apiVersion: rbac.authorization.k8s.io/v1
    kind: ClusterRole
    metadata:
      name: workshop-reader
    rules:
    - apiGroups: [""]
      resources: [pods]
      verbs: [get, list]
  EOT
  resources = { cpu = "1000m", memory = "1Gi", storage = "2Gi" }
  duration  = "3h"
}

resource "nalabo_workshop_session" "student" {
  for_each    = var.participants
  template_id = each.value == "admin" ? nalabo_workshop_template.admin.id : nalabo_workshop_template.ns.id
  participant = each.key
}

output "namespaces" {
  value = { for k, s in nalabo_workshop_session.student : k => s.namespace }
}

# Hand each participant their kubeconfig (sensitive: terraform output -json kubeconfigs).
output "kubeconfigs" {
  value     = { for k, s in nalabo_workshop_session.student : k => s.kubeconfig }
  sensitive = true
}
