terraform {
  required_providers {
    nalabo = { source = "nalabo/nalabo" }
  }
}

# The local Docker engine. Every attribute is optional; the values below are the
# defaults (host and network also read DOCKER_HOST and DOCKER_NETWORK). docker,
# kubernetes and their nested settings are blocks (no "="): a misspelt argument in
# them is an error, never silently ignored.
provider "nalabo" {
  docker {
    host                 = "unix:///var/run/docker.sock"
    network              = "nalabo-network" # prefix of the per-session networks
    bind_address         = "127.0.0.1"      # where published ports listen
    subnet_pool          = "10.213.0.0/16"  # per-session subnets are carved from it
    subnet_prefix_length = 28               # 14 addresses per session
    pids_limit           = 512
    # What sessions of templates with egress = "restricted" (the default) cannot reach,
    # besides the Docker host and other sessions. Add your LAN/VPN/cluster ranges.
    egress_deny = ["169.254.169.254/32", "fd00:ec2::254/128"]
    # Class admission: a plan whose new or grown sessions would reserve more than the
    # host's CPUs × cpu (or its memory × memory), counting every state's live sessions,
    # fails before anything is created, with the figures. Also NALABO_DOCKER_OVERCOMMIT_CPU
    # and NALABO_DOCKER_OVERCOMMIT_MEMORY.
    overcommit = { cpu = 4, memory = 1 }
  }
  # At most this many sessions on the provider's backends together (every state's;
  # also NALABO_MAX_SESSIONS). Default no limit.
  # max_sessions = 60
}

# A remote engine over TLS, pulling from private registries: one registry_auth block
# per registry, matched by the image's registry host. The block without address is the
# default login (Docker Hub, and any registry without a block of its own); its user name
# and password can also come from DOCKER_USERNAME and DOCKER_PASSWORD. The TLS files
# can come from DOCKER_CERT_PATH, or their contents from DOCKER_CA_MATERIAL,
# DOCKER_CERT_MATERIAL and DOCKER_KEY_MATERIAL.
variable "registry_password" {
  type      = string
  sensitive = true
  default   = null
}

variable "ghcr_token" {
  type      = string
  sensitive = true
  default   = null
}

provider "nalabo" {
  alias = "remote"
  docker {
    host      = "tcp://docker.example.com:2376"
    cert_path = "/etc/nalabo/docker-tls" # ca.pem, cert.pem, key.pem
    registry_auth {
      address  = "registry.example.com"
      username = "workshops"
      password = var.registry_password
    }
    registry_auth {
      address  = "ghcr.io"
      username = "workshops-bot"
      password = var.ghcr_token
    }
    # The default login (Docker Hub's) from DOCKER_USERNAME and DOCKER_PASSWORD.
  }
}

# A Kubernetes cluster for `kubernetes` templates. config_path falls back to
# KUBE_CONFIG_PATH then KUBECONFIG, context to K8S_CONTEXT, host to K8S_ENDPOINT, token to
# K8S_TOKEN, cluster_ca_certificate to K8S_CLUSTER_CA_CERTIFICATE, namespace to
# K8S_NAMESPACE. With K8S_ENDPOINT, K8S_TOKEN and K8S_CLUSTER_CA_CERTIFICATE set (HCP
# Terraform workspace variables, say), no block and no kubeconfig file are needed.
# The control namespace holds the templates and the reconciler's lease.
provider "nalabo" {
  alias = "cluster"
  kubernetes {
    config_path = "~/.kube/config"
    context     = "workshops"
    namespace   = "nalabo"
    # The address written into participants' kubeconfigs, when they reach the API
    # server by another name than Terraform does.
    participant_server = "https://k8s.workshops.example.com:6443"
    # Addresses no session pod reaches (the except list of each session's egress
    # NetworkPolicy; default: the cloud metadata addresses, keep them when you add yours).
    egress_deny = ["169.254.169.254/32", "fd00:ec2::254/128", "10.0.0.0/8"]
    # The capacity is the allocatable of the schedulable nodes, or a ResourceQuota on
    # requests in the control namespace when that is tighter (a budget for the classes).
    overcommit = { cpu = 4, memory = 1 }
    # Logins for session pods: a kubernetes.io/dockerconfigjson Secret in each session
    # namespace that the workspace and the template's manifests pull with. Participants
    # can read it: use a read-only pull token.
    registry_auth {
      address  = "registry.example.com"
      username = "workshops-pull"
      password = var.registry_password
    }
  }
}

# A managed cluster whose tokens come from an exec credential plugin.
variable "eks_ca_pem" {
  type    = string
  default = null
}

provider "nalabo" {
  alias = "eks"
  kubernetes {
    host                   = "https://ABCDEF.gr7.eu-west-1.eks.amazonaws.com"
    cluster_ca_certificate = var.eks_ca_pem
    exec {
      api_version = "client.authentication.k8s.io/v1beta1"
      command     = "aws"
      args        = ["eks", "get-token", "--cluster-name", "workshops"]
    }
  }
}
