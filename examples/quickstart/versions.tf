terraform {
  required_version = ">= 1.8"
  required_providers {
    nalabo = { source = "nalabo/nalabo" }
  }
}
