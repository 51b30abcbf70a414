# A Compose template: a web server and an app that waits for it, beside each
# participant's workspace. Every session gets its own network, volumes and services.
terraform {
  required_providers {
    nalabo = { source = "nalabo/nalabo" }
  }
}

provider "nalabo" {}

variable "participants" {
  type    = list(string)
  default = ["ada", "grace"]
}

resource "nalabo_workshop_template" "web" {
  name                = "compose-web"
  infrastructure_type = "docker"
  workspace {
    image   = "busybox:1.37"
    command = ["sleep", "infinity"] # busybox's own command is a shell, which ends at once
  }
  # Relative paths of compose.yaml (./site, ./app) resolve against this directory;
  # bind mounts from anywhere else are refused. A relative path (path.module, not
  # abspath()) keeps the template the same wherever the configuration is checked out.
  compose           = file("${path.module}/compose.yaml")
  compose_directory = path.module
  # The budget of the workspace and both services together.
  resources = { cpu = "500m", memory = "256Mi" }
}

resource "nalabo_workshop_session" "student" {
  for_each    = toset(var.participants)
  template_id = nalabo_workshop_template.web.id
  participant = each.key
}

# The workspace reaches web by its service name (static busybox wget cannot resolve
# names itself, hence nslookup).
resource "nalabo_exec" "curl_web" {
  for_each   = nalabo_workshop_session.student
  session_id = each.value.id
  script     = "ip=$(nslookup web | awk '/^Address/ && $NF !~ /:53$/ {a=$NF} END {print a}'); timeout 3 wget -qO- http://$ip:8080/"
}

output "web" {
  value = { for k, s in nalabo_workshop_session.student : k => [for p in s.ports : "${p.host_ip}:${p.host_port}" if p.container == "web"] }
}

output "from_workspace" {
  value = { for k, e in nalabo_exec.curl_web : k => e.stdout }
}
