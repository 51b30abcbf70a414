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

output "access_urls" {
  description = "Each participant's browser terminal on the gateway (null without one: set NALABO_GATEWAY_URL and NALABO_GATEWAY_SIGNING_KEY, see the gateway guide)."
  value       = { for name, s in nalabo_workshop_session.student : name => s.access_url }
  sensitive   = true
}

output "access_url_lines" {
  description = "The access URLs, one \"participant: url\" line each (make demo prints them with terraform output -raw)."
  value       = join("\n", [for name, s in nalabo_workshop_session.student : "  ${name}: ${coalesce(s.access_url, "(no gateway)")}"])
  sensitive   = true
}
