# A cohort from a CSV file: one session per row. For a class of 30-200, apply with
#   terraform apply -parallelism=30
# (Terraform's default of 10 concurrent operations makes a large class slower), hand
# out the outputs, and `terraform destroy -parallelism=30` after class.

terraform {
  required_version = ">= 1.8"
  required_providers {
    nalabo = { source = "nalabo/nalabo" }
  }
}

provider "nalabo" {
  docker {
    network     = "nalabo-cohort" # networks nalabo-cohort-<session id>
    subnet_pool = "10.213.0.0/16" # 4096 sessions of /28
  }
}

variable "students_file" {
  description = "CSV with the columns id,name,email,track."
  type        = string
  default     = "students.csv"
}

locals {
  students = { for s in csvdecode(file("${path.module}/${var.students_file}")) : s.id => s }

  # Per-track resources, over the template's defaults.
  tracks = {
    standard = { cpu = "500m", memory = "512Mi", storage = "5Gi" }
    advanced = { cpu = "1000m", memory = "1Gi", storage = "10Gi" }
  }
}

resource "nalabo_workshop_template" "cohort" {
  name                = "cohort-shell"
  infrastructure_type = "docker"
  workspace {
    image   = "busybox:1.37"        # pulled once for the whole class when not present
    command = ["sleep", "infinity"] # busybox's own command is a shell, which ends at once
    env     = { LANG = "C.UTF-8" }
  }
  resources = { cpu = "500m", memory = "512Mi", storage = "5Gi" }
  duration  = "4h"

  validations = [{
    name    = "exercise-1"
    command = ["test", "-f", "/workspace/exercise-1.done"]
  }]
}

resource "nalabo_workshop_session" "student" {
  for_each    = local.students
  template_id = nalabo_workshop_template.cohort.id
  participant = each.key
  resources   = local.tracks[each.value.track]
  duration    = "4h"
}

# A personal greeting in each workspace.
resource "nalabo_exec" "greeting" {
  for_each    = nalabo_workshop_session.student
  session_id  = each.value.id
  command     = ["sh", "-c", "echo \"Welcome, $STUDENT\" > /workspace/README && cat /workspace/README"]
  env         = { STUDENT = local.students[each.key].name }
  working_dir = "/workspace"
}

output "handout" {
  description = "What to send each student."
  value = {
    for id, s in nalabo_workshop_session.student : local.students[id].email => {
      session    = s.id
      container  = s.workspace_name
      status     = s.status
      expires_at = s.expires_at
    }
  }
}

output "session_count" {
  value = length(nalabo_workshop_session.student)
}
