resource "nalabo_workshop_template" "intro" {
  name                = "docker-intro"
  infrastructure_type = "docker"
  workspace {
    image   = "busybox:1.37"
    command = ["sleep", "infinity"] # busybox's own command is a shell, which ends at once
  }
  resources = { cpu = "1000m", memory = "512Mi" }
}

resource "nalabo_workshop_session" "ada" {
  template_id = nalabo_workshop_template.intro.id
  participant = "ada"
}

# Services added to the live session, next to its workspace (reachable by name on the
# session's network). Removing a service from the file removes its container on the
# next apply; destroying this resource removes what it added and nothing else.
resource "nalabo_apply" "cache" {
  session_id    = nalabo_workshop_session.ada.id
  type          = "compose"
  configuration = <<-EOT
    services:
      cache:
        image: busybox:1.37
        command: ["httpd", "-f", "-p", "6379", "-h", "/data"]
        volumes: ["cachedata:/data"]
        mem_limit: 64m
    volumes:
      cachedata: {}
  EOT
}

# An image built in the session's scope (tagged nalabo-session-<session id>/<id>:latest,
# removed with the session), run as the service "tool".
resource "nalabo_apply" "tool" {
  session_id    = nalabo_workshop_session.ada.id
  type          = "dockerfile"
  configuration = <<-EOT
    FROM busybox:1.37
    RUN echo "exercise 2" > /exercise.txt
    CMD ["sleep", "infinity"]
  EOT
  run           = true
  service_name  = "tool"
}

output "applied" {
  value = concat(nalabo_apply.cache.objects, nalabo_apply.tool.objects)
}
