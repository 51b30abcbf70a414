resource "nalabo_workshop_template" "intro" {
  name                = "docker-intro"
  infrastructure_type = "docker"
  workspace {
    image   = "busybox:1.37"
    command = ["sleep", "infinity"] # busybox's own command is a shell, which ends at once
    ports   = [8080]
  }
}

variable "students" {
  type    = list(string)
  default = ["ada", "grace", "linus"]
}

# One isolated environment per participant: its own network, a limited and
# unprivileged workspace container (nalabo-session-<id>) and its volumes.
resource "nalabo_workshop_session" "student" {
  for_each    = toset(var.students)
  template_id = nalabo_workshop_template.intro.id
  participant = each.key

  # Overrides the template's defaults (Docker defaults: 1000m, 2Gi, 10Gi, 4h).
  resources = { cpu = "500m", memory = "512Mi", storage = "5Gi" }
  duration  = "3h" # changing it later updates expires_at in place

  timeouts = {
    create = "5m"
    delete = "5m"
  }
}

output "workspaces" {
  value = {
    for name, s in nalabo_workshop_session.student : name => {
      container  = s.workspace_name      # docker exec -it <container> sh
      limits     = s.effective_resources # in force: configured, else the template's
      expires_at = s.expires_at
      ports      = [for p in s.ports : "${p.host_ip}:${p.host_port} -> ${p.container_port}/${p.protocol}"]
    }
  }
}
