# A template is imported by its id: <infrastructure_type>.<name>.<first 12 hex chars of the digest>.
terraform import nalabo_workshop_template.intro docker.docker-intro.0123456789ab
