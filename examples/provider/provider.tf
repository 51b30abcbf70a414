terraform {
  required_providers {
    nalabo = { source = "nalabo/nalabo" }
  }
}

# The local Docker engine. Every attribute is optional; the values below are the
# defaults (host and network also read DOCKER_HOST and DOCKER_NETWORK).
provider "nalabo" {
  docker = {
    host                 = "unix:///var/run/docker.sock"
    network              = "nalabo-network" # prefix of the per-session networks
    bind_address         = "127.0.0.1"      # where published ports listen
    subnet_pool          = "10.213.0.0/16"  # per-session subnets are carved from it
    subnet_prefix_length = 28               # 14 addresses per session
    pids_limit           = 512
  }
}

# A remote engine over TLS, pulling from a private registry. The password can also
# come from DOCKER_PASSWORD (and the user name from DOCKER_USERNAME).
variable "registry_password" {
  type      = string
  sensitive = true
  default   = null
}

provider "nalabo" {
  alias = "remote"
  docker = {
    host      = "tcp://docker.example.com:2376"
    cert_path = "/etc/nalabo/docker-tls" # ca.pem, cert.pem, key.pem
    registry_auth = {
      address  = "registry.example.com"
      username = "workshops"
      password = var.registry_password
    }
  }
}
