terraform {
  # The provider is tested with Terraform 1.8.5 (the oldest supported) and 1.11.4.
  required_version = ">= 1.8"

  required_providers {
    nalabo = { source = "nalabo/nalabo" }
  }

  # One cohort per HCP Terraform workspace. Uncomment with your organization and
  # workspace (or set TF_CLOUD_ORGANIZATION and TF_WORKSPACE), then `terraform init`.
  # Set the workspace's execution mode to "Agent": the runs must execute next to the
  # Docker host, or where the cluster's API is reachable.
  #
  # cloud {
  #   organization = "my-school"
  #   workspaces {
  #     name = "cohort-2025-spring"
  #   }
  # }
}
