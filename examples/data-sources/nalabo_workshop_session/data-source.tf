# Look a session up by ID (it may belong to another Terraform configuration) and read
# its live status and resource usage.
variable "session_id" {
  type        = string
  description = "ID of a nalabo_workshop_session (10 hex characters)."
}

data "nalabo_workshop_session" "this" {
  id = var.session_id
}

output "status" {
  value = data.nalabo_workshop_session.this.status # running, expired, ...
}

output "expires_at" {
  value = data.nalabo_workshop_session.this.expires_at
}

# Null when the backend has no figures (Kubernetes without metrics-server).
output "memory_mib" {
  value = try(data.nalabo_workshop_session.this.usage.memory_bytes / 1048576, null)
}

output "network_rx_bytes" {
  value = try(data.nalabo_workshop_session.this.usage.network_rx_bytes, null)
}
