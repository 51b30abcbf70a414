output "session_ids" {
  description = "Session id per participant."
  value       = { for name, s in nalabo_workshop_session.student : name => s.id }
}

output "workspace_containers" {
  description = "Workspace container per participant: docker exec -it <name> sh"
  value       = { for name, s in nalabo_workshop_session.student : name => s.workspace_name }
}

output "expires_at" {
  description = "When each session expires."
  value       = { for name, s in nalabo_workshop_session.student : name => s.expires_at }
}

output "hello" {
  description = "What the command printed in each workspace."
  value       = { for name, e in nalabo_exec.hello : name => trimspace(e.stdout) }
}
