# Health checks of every configured backend: reachable, versions, capacity, sessions.
data "nalabo_infrastructure" "this" {}

# Warns on every plan and apply when the Docker engine does not answer or is short of
# memory for another session of 2Gi.
check "docker_capacity" {
  assert {
    condition     = data.nalabo_infrastructure.this.backends["docker"].reachable
    error_message = "Docker engine unreachable: ${coalesce(data.nalabo_infrastructure.this.backends["docker"].error, "?")}"
  }
  assert {
    condition = (
      !data.nalabo_infrastructure.this.backends["docker"].reachable ||
      data.nalabo_infrastructure.this.backends["docker"].allocatable_memory_bytes -
      data.nalabo_infrastructure.this.backends["docker"].used_memory_bytes >= 2 * 1024 * 1024 * 1024
    )
    error_message = "Less than 2Gi of memory left for another session on the Docker host."
  }
}

output "docker_version" {
  value = data.nalabo_infrastructure.this.backends["docker"].server_version
}

output "sessions" {
  value = data.nalabo_infrastructure.this.sessions
}
