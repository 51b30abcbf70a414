resource "nalabo_workshop_template" "intro" {
  name                = "docker-intro"
  infrastructure_type = "docker"
  workspace {
    image   = "busybox:1.37"
    command = ["sleep", "infinity"] # busybox's own command is a shell, which ends at once
  }
  validations = [
    { name = "hello-file", command = ["test", "-f", "/workspace/hello.txt"] },
    { name = "hello-text", command = ["cat", "/workspace/hello.txt"], output_pattern = "(?i)hello", timeout = "10s" },
  ]
}

resource "nalabo_workshop_session" "student" {
  for_each    = toset(["ada", "grace", "linus"])
  template_id = nalabo_workshop_template.intro.id
  participant = each.key
}

# Grade the class: the checks run again on every refresh, so
# `terraform apply -refresh-only` prints fresh grades.
data "nalabo_session_validation" "grade" {
  for_each   = nalabo_workshop_session.student
  session_id = each.value.id
}

output "grades" {
  value = {
    for p, v in data.nalabo_session_validation.grade :
    p => { passed = v.passed, failed = v.failed_checks }
  }
}

# Or as a check block: a failing participant shows as a warning on every plan.
check "ada_done" {
  data "nalabo_session_validation" "ada" {
    session_id = nalabo_workshop_session.student["ada"].id
    checks     = ["hello-file"]
  }
  assert {
    condition     = data.nalabo_session_validation.ada.all_passed
    error_message = "ada has not written /workspace/hello.txt yet"
  }
}
