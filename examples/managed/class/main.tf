# The class, the same on EKS, AKS and GKE (../eks, ../aks, ../gke pass the cluster's
# address, CA and credential plugin). Validated in CI (scripts/check-examples.sh).

terraform {
  required_providers {
    nalabo = { source = "nalabo/nalabo" }
  }
}

variable "cluster_host" {
  description = "API server address of the managed cluster."
  type        = string
}

variable "cluster_ca_certificate" {
  description = "PEM CA certificate of the API server."
  type        = string
}

variable "exec" {
  description = "The cloud's client-go credential plugin."
  type = object({
    api_version = string
    command     = string
    args        = list(string)
  })
}

variable "storage_class" {
  description = "Storage class of the vCluster control planes' volumes."
  type        = string
}

variable "gpu_node_selector" {
  description = "Node labels of the GPU node pool."
  type        = map(string)
}

variable "participants" {
  type    = set(string)
  default = ["ada", "grace", "alan"]
}

provider "nalabo" {
  kubernetes {
    host                   = var.cluster_host
    cluster_ca_certificate = var.cluster_ca_certificate
    # A short-lived token from the cloud's credential plugin, run again whenever it
    # expires: a class apply may outlive several tokens.
    exec {
      api_version = var.exec.api_version
      command     = var.exec.command
      args        = var.exec.args
    }
    vcluster {
      persistence   = true
      storage_class = var.storage_class
    }
  }
}

# A vCluster per participant (the default isolation), on the general nodes.
resource "nalabo_workshop_template" "k8s" {
  name                = "k8s-basics"
  infrastructure_type = "kubernetes"
  workspace {
    image = "ghcr.io/example/workshop-shell:1"
  }
  resources = { cpu = "2", memory = "4Gi", storage = "10Gi" }
}

# One GPU per participant, on the tainted GPU node pool.
resource "nalabo_workshop_template" "gpu" {
  name                = "cuda-intro"
  infrastructure_type = "kubernetes"
  isolation           = "namespace"
  workspace {
    image   = "nvcr.io/nvidia/cuda:12.6.0-base-ubuntu24.04"
    command = ["sleep", "infinity"]
  }
  resources     = { cpu = "2", memory = "8Gi", storage = "20Gi", gpu = 1 }
  node_selector = var.gpu_node_selector
  toleration {
    key      = "nvidia.com/gpu"
    operator = "Exists"
    effect   = "NoSchedule"
  }
}

resource "nalabo_workshop_session" "k8s" {
  for_each    = var.participants
  template_id = nalabo_workshop_template.k8s.id
  participant = each.key
}

resource "nalabo_workshop_session" "gpu" {
  for_each    = var.participants
  template_id = nalabo_workshop_template.gpu.id
  participant = each.key
}
