// Package mirrortest holds the release acceptance test: `terraform init` installs the
// provider from the filesystem mirror that `make mirror` builds from the goreleaser
// archives (no dev_overrides), then a small Docker class is applied and destroyed, once
// per Terraform CLI at hand. It has no non-test code.
package mirrortest
