package workshop

// MaxInstructionsBytes bounds a template's instructions (characters): they travel in
// the stored template (a Docker label, a ConfigMap) and render on every page load.
const MaxInstructionsBytes = 64 << 10
