# A class on a Docker Swarm: each participant's workspace is a Swarm service on an
# overlay network of its own; Swarm places it on a node with the CPU and memory it
# reserves and that matches the template's placement constraints.
terraform {
  required_version = ">= 1.8"
  required_providers {
    nalabo = { source = "nalabo/nalabo" }
  }
}

variable "manager" {
  description = "Engine API address of a Swarm manager (after `docker swarm init`)."
  type        = string
  default     = "unix:///var/run/docker.sock"
}

provider "nalabo" {
  swarm {
    host        = var.manager
    subnet_pool = "10.216.0.0/16" # per-session overlay subnets are carved from it
    encrypted   = true            # IPsec between nodes (the kernels need ESP)
    # Exec and validations reach a task through the engine of its node: the manager's
    # own needs no entry, workers do (by hostname or node ID).
    node_hosts = {
      "worker-1" = "tcp://10.0.0.11:2376"
    }
  }
}

variable "participants" {
  type    = list(string)
  default = ["ada", "grace", "alan"]
}

resource "nalabo_workshop_template" "linux" {
  name                = "linux-basics"
  infrastructure_type = "swarm"
  workspace {
    image   = "debian:12" # every node pulls it (or has it)
    command = ["sleep", "infinity"]
  }
  resources = { cpu = "500m", memory = "512Mi" }
  # Only the nodes labelled for this class (docker node update --label-add class=linux).
  placement_constraints = ["node.labels.class==linux"]
}

resource "nalabo_workshop_session" "participant" {
  for_each    = toset(var.participants)
  template_id = nalabo_workshop_template.linux.id
  participant = each.key
}
