variable "participants" {
  description = "One session per participant."
  type        = list(string)
  default     = ["ada", "grace", "linus"]
}

variable "duration" {
  description = "How long each session lives (expires_at = creation + duration)."
  type        = string
  default     = "2h"
}

variable "base_image" {
  description = "Base image of the workspace Dockerfile (any image with a shell and sleep)."
  type        = string
  default     = "busybox:1.37"
}
