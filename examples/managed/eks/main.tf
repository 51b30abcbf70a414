# An EKS cluster for a class: a general node group and a tainted GPU node group, made
# with the community modules. Not applied in CI (`terraform fmt -check` only: the
# modules and the cloud providers cannot be downloaded there); ../class is validated.

terraform {
  required_providers {
    aws        = { source = "hashicorp/aws", version = "~> 5.0" }
    kubernetes = { source = "hashicorp/kubernetes", version = "~> 2.30" }
    nalabo     = { source = "nalabo/nalabo" }
  }
}

variable "region" {
  type    = string
  default = "eu-west-1"
}

variable "cluster_name" {
  type    = string
  default = "workshop"
}

provider "aws" {
  region = var.region
}

data "aws_availability_zones" "available" {}

module "vpc" {
  source  = "terraform-aws-modules/vpc/aws"
  version = "~> 5.0"

  name            = var.cluster_name
  cidr            = "10.0.0.0/16"
  azs             = slice(data.aws_availability_zones.available.names, 0, 3)
  private_subnets = ["10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"]
  public_subnets  = ["10.0.101.0/24", "10.0.102.0/24", "10.0.103.0/24"]

  enable_nat_gateway = true
  single_nat_gateway = true

  public_subnet_tags  = { "kubernetes.io/role/elb" = 1 }
  private_subnet_tags = { "kubernetes.io/role/internal-elb" = 1 }
}

module "eks" {
  source  = "terraform-aws-modules/eks/aws"
  version = "~> 20.0"

  cluster_name    = var.cluster_name
  cluster_version = "1.34"

  vpc_id     = module.vpc.vpc_id
  subnet_ids = module.vpc.private_subnets

  # Terraform (and the gateway's load balancer) reach the API from outside the VPC.
  cluster_endpoint_public_access           = true
  enable_cluster_creator_admin_permissions = true

  # gp3 volumes for vCluster persistence (storage class below); a Network Policy
  # engine, as session namespaces are fenced by NetworkPolicies.
  cluster_addons = {
    aws-ebs-csi-driver = { most_recent = true }
    vpc-cni = {
      most_recent          = true
      configuration_values = jsonencode({ enableNetworkPolicy = "true" })
    }
  }

  eks_managed_node_groups = {
    general = {
      instance_types = ["m6i.2xlarge"]
      min_size       = 1
      max_size       = 6
      desired_size   = 2
    }
    # One GPU per node; the NVIDIA AMI has the driver and the device plugin's runtime.
    # Install the NVIDIA device plugin (Helm chart nvidia/k8s-device-plugin) so that the
    # nodes advertise nvidia.com/gpu.
    # Sized for the class before the apply: a GPU session fails at once when the
    # scheduler finds no free GPU (it does not wait for the autoscaler).
    gpu = {
      ami_type       = "AL2023_x86_64_NVIDIA"
      instance_types = ["g5.xlarge"]
      min_size       = 2
      max_size       = 4
      desired_size   = 2
      labels         = { "nalabo.io/pool" = "gpu" }
      taints = {
        gpu = { key = "nvidia.com/gpu", value = "true", effect = "NO_SCHEDULE" }
      }
    }
  }
}

# gp2 is EKS's only default class; vCluster persistence gets gp3 through the EBS CSI
# driver.
resource "kubernetes_storage_class_v1" "gp3" {
  metadata { name = "gp3" }
  storage_provisioner    = "ebs.csi.aws.com"
  volume_binding_mode    = "WaitForFirstConsumer"
  allow_volume_expansion = true
  parameters             = { type = "gp3" }
}

provider "kubernetes" {
  host                   = module.eks.cluster_endpoint
  cluster_ca_certificate = base64decode(module.eks.cluster_certificate_authority_data)
  exec {
    api_version = "client.authentication.k8s.io/v1beta1"
    command     = "aws"
    args        = ["eks", "get-token", "--cluster-name", module.eks.cluster_name, "--region", var.region]
  }
}

module "class" {
  source     = "../class"
  depends_on = [kubernetes_storage_class_v1.gp3]

  cluster_host           = module.eks.cluster_endpoint
  cluster_ca_certificate = base64decode(module.eks.cluster_certificate_authority_data)
  exec = {
    api_version = "client.authentication.k8s.io/v1beta1"
    command     = "aws"
    args        = ["eks", "get-token", "--cluster-name", module.eks.cluster_name, "--region", var.region]
  }
  storage_class     = "gp3"
  gpu_node_selector = { "nalabo.io/pool" = "gpu" }
}
