resource "nalabo_workshop_template" "intro" {
  name                = "docker-intro"
  infrastructure_type = "docker"
  workspace {
    image   = "busybox:1.37"
    command = ["sleep", "infinity"] # busybox's own command is a shell, which ends at once
  }
}

resource "nalabo_workshop_session" "ada" {
  template_id = nalabo_workshop_template.intro.id
  participant = "ada"
}

# An argv list, run in the session's workspace container.
resource "nalabo_exec" "hello" {
  session_id         = nalabo_workshop_session.ada.id
  command            = ["sh", "-c", "echo hello > /workspace/hello.txt && cat /workspace/hello.txt"]
  timeout            = "30s"
  expected_exit_code = 0 # any other exit code fails the apply, with stdout and stderr
}

# A shell script with its environment, working directory and user. Changing a
# trigger runs it again.
resource "nalabo_exec" "setup" {
  session_id       = nalabo_workshop_session.ada.id
  script           = <<-EOT
    mkdir -p exercises
    echo "$EXERCISE" > exercises/current
    ls -l exercises
  EOT
  env              = { EXERCISE = "01-containers" }
  working_dir      = "/workspace"
  user             = "root"
  timeout          = "2m"
  max_output_bytes = 65536
  triggers         = { exercise = "01-containers" }
}

output "hello" {
  value = nalabo_exec.hello.stdout
}
