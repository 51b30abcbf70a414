# Workspace variables. In HCP Terraform, set them as Terraform variables of the
# workspace (mark the credentials "Sensitive"), or leave the credentials unset and
# give the agent environment variables instead (K8S_ENDPOINT, K8S_TOKEN,
# K8S_CLUSTER_CA_CERTIFICATE; DOCKER_HOST, DOCKER_CA_MATERIAL, DOCKER_CERT_MATERIAL,
# DOCKER_KEY_MATERIAL).

variable "cohort" {
  description = "Name of the cohort: the template's name, so every session's labels name it. Lower-case letters, digits and '-'."
  type        = string
  default     = "cohort"
}

variable "participants_csv" {
  description = "Path, relative to this directory, of a CSV file with the columns id,name,email (one row per participant). Ignored when participants is set."
  type        = string
  default     = "participants.csv"
}

variable "participants" {
  description = "Participant ids, instead of the CSV file (an HCL list variable in the workspace, such as [\"ada\", \"grace\"]). Empty: the CSV file."
  type        = list(string)
  default     = []
}

variable "infrastructure_type" {
  description = "Where the sessions run: \"kubernetes\" or \"docker\"."
  type        = string
  default     = "kubernetes"
  validation {
    condition     = contains(["kubernetes", "docker"], var.infrastructure_type)
    error_message = "infrastructure_type must be \"kubernetes\" or \"docker\"."
  }
}

variable "isolation" {
  description = "Kubernetes only: \"vcluster\" (a virtual cluster per participant) or \"namespace\"."
  type        = string
  default     = "namespace"
}

variable "workspace_image" {
  description = "Image of every participant's workspace, such as registry.example.com/workshops/shell:1, from a registry the Docker host or the cluster pulls from. It keeps running (a shell, an IDE server) until the session ends."
  type        = string
}

variable "duration" {
  description = "Lifetime of the sessions (the reconciler removes them after it), such as \"4h\" or \"2d\"."
  type        = string
  default     = "4h"
}

variable "grade" {
  description = "Run the template's checks in every session (nalabo_session_validation). Leave false in the workspace so that speculative plans never run them; grade with `terraform apply -refresh-only -var grade=true`."
  type        = bool
  default     = false
}

# Kubernetes credentials: null falls back to K8S_ENDPOINT, K8S_TOKEN and
# K8S_CLUSTER_CA_CERTIFICATE in the runner's environment.
variable "k8s_endpoint" {
  description = "API server address (https://host:port). Null: K8S_ENDPOINT."
  type        = string
  default     = null
}

variable "k8s_token" {
  description = "Bearer token of a ServiceAccount allowed to manage session namespaces. Null: K8S_TOKEN."
  type        = string
  default     = null
  sensitive   = true
}

variable "k8s_cluster_ca_certificate" {
  description = "PEM CA certificate of the API server. Null: K8S_CLUSTER_CA_CERTIFICATE."
  type        = string
  default     = null
}

# Docker credentials: null falls back to DOCKER_HOST, DOCKER_CA_MATERIAL,
# DOCKER_CERT_MATERIAL and DOCKER_KEY_MATERIAL, then the local socket.
variable "docker_host" {
  description = "Docker daemon address (tcp://host:2376 with TLS, unix:///var/run/docker.sock on the agent's host). Null: DOCKER_HOST."
  type        = string
  default     = null
}

variable "docker_ca_material" {
  description = "PEM CA certificate of a TLS daemon. Null: DOCKER_CA_MATERIAL."
  type        = string
  default     = null
}

variable "docker_cert_material" {
  description = "PEM client certificate for a TLS daemon. Null: DOCKER_CERT_MATERIAL."
  type        = string
  default     = null
}

variable "docker_key_material" {
  description = "PEM client private key for a TLS daemon. Null: DOCKER_KEY_MATERIAL."
  type        = string
  default     = null
  sensitive   = true
}
