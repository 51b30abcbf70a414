# A class of 3 on the local Docker engine: `make demo` applies it, `make demo-destroy`
# removes every trace.

# The local engine with the defaults (unix:///var/run/docker.sock, per-session networks
# named nalabo-network-<id>, carved from 10.213.0.0/16).
provider "nalabo" {}

# The workspace image is built locally from ./workspace/Dockerfile. The context is
# relative (path.module, not abspath()): the template does not change with the
# directory the configuration is checked out in.
resource "nalabo_workshop_template" "quickstart" {
  name                = "quickstart"
  infrastructure_type = "docker"
  workspace {
    build {
      context    = "${path.module}/workspace"
      dockerfile = "Dockerfile"
      args       = { GREETING = "Welcome to the Nalabo quickstart", BASE_IMAGE = var.base_image }
    }
    env = { WORKSHOP = "quickstart" }
  }
  resources = { cpu = "250m", memory = "64Mi", storage = "1Gi" }
  duration  = var.duration

  validations = [{
    name               = "welcome-file"
    command            = ["test", "-s", "/etc/nalabo/welcome.txt"]
    expected_exit_code = 0
    timeout            = "10s"
  }]
}

resource "nalabo_workshop_session" "student" {
  for_each    = toset(var.participants)
  template_id = nalabo_workshop_template.quickstart.id
  participant = each.key
}

# Runs in each workspace: writes a file, then reads it back with the welcome text.
resource "nalabo_exec" "hello" {
  for_each   = nalabo_workshop_session.student
  session_id = each.value.id
  script     = <<-EOT
    echo "hello ${each.key}, from $(hostname)" > /tmp/hello.txt
    cat /tmp/hello.txt
    cat /etc/nalabo/greeting
  EOT
  timeout    = "30s"
}
