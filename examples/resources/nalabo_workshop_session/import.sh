# A session is imported by its id: the 10 hex characters in its container name
# (nalabo-session-<id>).
terraform import 'nalabo_workshop_session.student["ada"]' 3f9a0c12be
