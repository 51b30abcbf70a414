# An AKS cluster for a class, with Entra ID (Azure AD) authentication and a tainted GPU
# node pool, made with the Azure/aks module. Not applied in CI (`terraform fmt -check`
# only: the module and the cloud providers cannot be downloaded there); ../class is
# validated.

terraform {
  required_providers {
    azurerm = { source = "hashicorp/azurerm", version = "~> 3.0" }
    nalabo  = { source = "nalabo/nalabo" }
  }
}

variable "location" {
  type    = string
  default = "westeurope"
}

provider "azurerm" {
  features {}
}

resource "azurerm_resource_group" "class" {
  name     = "workshop"
  location = var.location
}

module "aks" {
  source  = "Azure/aks/azurerm"
  version = "~> 9.0"

  resource_group_name = azurerm_resource_group.class.name
  location            = var.location
  prefix              = "workshop"
  kubernetes_version  = "1.34"

  # Entra ID users only (no static admin credentials): Terraform authenticates with
  # kubelogin, as whoever ran `az login`.
  role_based_access_control_enabled = true
  rbac_aad                          = true
  rbac_aad_managed                  = true
  rbac_aad_azure_rbac_enabled       = true
  local_account_disabled            = true

  # Azure CNI with Calico enforces the NetworkPolicies that fence session namespaces.
  network_plugin = "azure"
  network_policy = "calico"

  agents_size  = "Standard_D8s_v5"
  agents_count = 2

  node_pools = {
    # The GPU Operator (Helm chart nvidia/gpu-operator) or the NVIDIA device plugin
    # makes the nodes advertise nvidia.com/gpu.
    gpu = {
      name        = "gpu"
      vm_size     = "Standard_NC4as_T4_v3"
      node_count  = 2
      node_labels = { "nalabo.io/pool" = "gpu" }
      node_taints = ["nvidia.com/gpu=true:NoSchedule"]
    }
  }
}

module "class" {
  source = "../class"

  cluster_host           = module.aks.host
  cluster_ca_certificate = base64decode(module.aks.cluster_ca_certificate)
  # kubelogin turns the Azure CLI login into an Entra ID token for AKS (the server ID is
  # the AKS AAD server application, the same for every cluster).
  exec = {
    api_version = "client.authentication.k8s.io/v1beta1"
    command     = "kubelogin"
    args        = ["get-token", "--login", "azurecli", "--server-id", "6dae42f8-4368-4678-94ff-3960e28e3630"]
  }
  # AKS's built-in CSI class for Azure managed disks.
  storage_class     = "managed-csi"
  gpu_node_selector = { "nalabo.io/pool" = "gpu" }
}
