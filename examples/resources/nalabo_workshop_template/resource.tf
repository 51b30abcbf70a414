# A workspace from an image that is present on the Docker host (or pulled once for
# the whole class, with the provider's registry_auth).
resource "nalabo_workshop_template" "intro" {
  name                = "docker-intro"
  infrastructure_type = "docker"
  workspace = {
    image       = "nalabo-test/shell:1"
    command     = ["sleep", "infinity"]
    env         = { LANG = "C.UTF-8" }
    working_dir = "/workspace"
    ports       = [8080]
  }
  # Defaults of each session (a session may override them).
  resources = { cpu = "1000m", memory = "2Gi", storage = "10Gi" }
  duration  = "4h"

  # Grading checks, stored with the template. Changing only these updates the
  # template in place: the sessions built from it are kept.
  validations = [
    {
      name               = "workspace-exists"
      command            = ["test", "-d", "/workspace"]
      expected_exit_code = 0
      timeout            = "10s"
    },
    {
      name           = "hello-written"
      command        = ["cat", "/workspace/hello.txt"]
      output_pattern = "^hello"
    },
  ]
}

# A workspace image built by the provider from a Dockerfile on the machine that runs
# Terraform. A change to any file of the context changes the digest (and the id), so
# the sessions built from the template are replaced.
resource "nalabo_workshop_template" "built" {
  name                = "python-basics"
  infrastructure_type = "docker"
  workspace = {
    build = {
      context    = "${path.module}/workspace"
      dockerfile = "Dockerfile"
      args       = { GREETING = "Welcome to Python basics" }
    }
  }
  resources = { cpu = "500m", memory = "512Mi" }
  duration  = "90m"
}
