# One cohort per HCP Terraform workspace: a template and one session per participant.
# The guide "Running a cohort on HCP Terraform" explains the workspace settings.

locals {
  from_csv = var.participants_csv == "" ? [] : csvdecode(file("${path.module}/${var.participants_csv}"))
  # id => display name; the list variable wins over the CSV file.
  participants = length(var.participants) > 0 ? { for p in var.participants : p => p } : { for r in local.from_csv : r.id => r.name }
  kubernetes   = var.infrastructure_type == "kubernetes"
}

# Only what is set here overrides the environment: null attributes fall back to the
# runner's environment variables (K8S_*, DOCKER_*). Provider configuration is never
# written to the state. The kubernetes block names a cluster, so it is only present for
# a Kubernetes cohort.
provider "nalabo" {
  dynamic "kubernetes" {
    for_each = local.kubernetes ? [1] : []
    content {
      host                   = var.k8s_endpoint
      token                  = var.k8s_token
      cluster_ca_certificate = var.k8s_cluster_ca_certificate
    }
  }
  docker {
    host          = var.docker_host
    ca_material   = var.docker_ca_material
    cert_material = var.docker_cert_material
    key_material  = var.docker_key_material
  }
}

resource "nalabo_workshop_template" "cohort" {
  name                = var.cohort
  infrastructure_type = var.infrastructure_type
  isolation           = local.kubernetes ? var.isolation : null
  workspace {
    image = var.workspace_image
    env   = { COHORT = var.cohort }
  }
  resources = { cpu = "500m", memory = "256Mi", storage = "1Gi" }
  duration  = var.duration

  validations = [{
    name    = "exercise-1"
    command = ["test", "-f", "/workspace/exercise-1.done"]
    timeout = "10s"
  }]
}

resource "nalabo_workshop_session" "participant" {
  for_each    = local.participants
  template_id = nalabo_workshop_template.cohort.id
  participant = each.key
}

# Grading runs the checks in every session, so it only happens when asked for:
#   terraform apply -refresh-only -var grade=true
# Speculative plans (pull requests, `terraform plan`) leave var.grade false and run none.
data "nalabo_session_validation" "grade" {
  for_each   = var.grade ? nalabo_workshop_session.participant : {}
  session_id = each.value.id
}
