# A GKE cluster for a class, with a tainted GPU node pool (NVIDIA L4, driver installed
# by GKE), made with the terraform-google-modules/kubernetes-engine module. Not applied
# in CI (`terraform fmt -check` only: the module and the cloud providers cannot be
# downloaded there); ../class is validated.

terraform {
  required_providers {
    google = { source = "hashicorp/google", version = "~> 6.0" }
    nalabo = { source = "nalabo/nalabo" }
  }
}

variable "project_id" {
  type = string
}

variable "region" {
  type    = string
  default = "europe-west4"
}

provider "google" {
  project = var.project_id
  region  = var.region
}

resource "google_compute_network" "class" {
  name                    = "workshop"
  auto_create_subnetworks = false
}

resource "google_compute_subnetwork" "class" {
  name          = "workshop"
  network       = google_compute_network.class.id
  ip_cidr_range = "10.10.0.0/20"
  secondary_ip_range {
    range_name    = "pods"
    ip_cidr_range = "10.20.0.0/14"
  }
  secondary_ip_range {
    range_name    = "services"
    ip_cidr_range = "10.30.0.0/20"
  }
}

module "gke" {
  source  = "terraform-google-modules/kubernetes-engine/google"
  version = "~> 36.0"

  project_id        = var.project_id
  name              = "workshop"
  region            = var.region
  network           = google_compute_network.class.name
  subnetwork        = google_compute_subnetwork.class.name
  ip_range_pods     = "pods"
  ip_range_services = "services"

  # Dataplane V2 enforces the NetworkPolicies that fence session namespaces.
  datapath_provider = "ADVANCED_DATAPATH"

  node_pools = [
    {
      name         = "general"
      machine_type = "e2-standard-8"
      min_count    = 1
      max_count    = 6
    },
    {
      name               = "gpu"
      machine_type       = "g2-standard-4"
      accelerator_type   = "nvidia-l4"
      accelerator_count  = 1
      gpu_driver_version = "LATEST"
      # Sized for the class before the apply: a GPU session fails at once when the
      # scheduler finds no free GPU (it does not wait for the autoscaler).
      min_count = 1
      max_count = 4
    },
  ]
  # GKE taints GPU nodes with nvidia.com/gpu=present:NoSchedule and labels them with
  # cloud.google.com/gke-accelerator.
}

module "class" {
  source = "../class"

  cluster_host           = "https://${module.gke.endpoint}"
  cluster_ca_certificate = base64decode(module.gke.ca_certificate)
  # gke-gcloud-auth-plugin (gcloud components install gke-gcloud-auth-plugin) turns the
  # gcloud login into a token for GKE.
  exec = {
    api_version = "client.authentication.k8s.io/v1beta1"
    command     = "gke-gcloud-auth-plugin"
    args        = []
  }
  # GKE's default class, Persistent Disk through the CSI driver.
  storage_class     = "standard-rwo"
  gpu_node_selector = { "cloud.google.com/gke-accelerator" = "nvidia-l4" }
}
