terraform {
  required_providers {
    nalabo = { source = "nalabo/nalabo" }
  }
}

provider "nalabo" {}

resource "nalabo_workshop_template" "course" {
  name                = "evening-course"
  infrastructure_type = "docker"
  workspace {
    image   = "busybox:1.37"
    command = ["sleep", "infinity"]
  }
  resources = { cpu = "500m", memory = "512Mi", storage = "2Gi" }
}

variable "students" {
  type    = list(string)
  default = ["ada", "grace"]
}

# "running" during the lessons, "stopped" between them: the workspaces' files stay.
variable "session_state" {
  type    = string
  default = "running"
}

resource "nalabo_workshop_session" "student" {
  for_each    = toset(var.students)
  template_id = nalabo_workshop_template.course.id
  participant = each.key
  duration    = "14d" # the whole course; a longer duration also resumes an expired session

  # The working directory (/workspace) is a volume that outlives the containers. At
  # expiry the reconciler stops the session instead of deleting it, and deletes it with
  # its data 7 days later. terraform destroy deletes everything at once.
  # pause_expiry: time spent stopped does not count; a resume moves expires_at by it.
  persistence = {
    size         = "1Gi"
    retain_days  = 7
    pause_expiry = true
  }
  state = var.session_state # terraform apply -var session_state=stopped
}

output "sessions" {
  value = {
    for name, s in nalabo_workshop_session.student : name => {
      status     = s.status # running, stopped, or expired (stopped by the reconciler)
      expires_at = s.expires_at
    }
  }
}
