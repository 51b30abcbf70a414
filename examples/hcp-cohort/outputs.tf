output "sessions" {
  description = "Per participant: the session, where it runs and when it expires."
  value = {
    for id, s in nalabo_workshop_session.participant : id => {
      name       = local.participants[id]
      session    = s.id
      workspace  = s.workspace_name
      namespace  = s.namespace
      status     = s.status
      expires_at = s.expires_at
    }
  }
}

# Kubernetes sessions' kubeconfigs are credentials: sensitive in the state and here.
# Read them with `terraform output -json kubeconfigs` (HCP Terraform: the state
# version's outputs, for users with state access).
output "kubeconfigs" {
  description = "Per participant: the session's kubeconfig (Kubernetes only; null on Docker)."
  value       = { for id, s in nalabo_workshop_session.participant : id => s.kubeconfig }
  sensitive   = true
}

output "grades" {
  description = "Per participant: the checks passed and failed; empty unless var.grade is true."
  value = {
    for id, v in data.nalabo_session_validation.grade : id => {
      passed = v.passed_checks
      failed = v.failed_checks
    }
  }
}
