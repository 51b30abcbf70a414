package config

import (
	"strings"
	"testing"
)

func TestValidateKubernetesEgressCIDR(t *testing.T) {
	for _, ok := range append([]string{"10.0.0.0/8", "fd00::/8"}, DefaultKubernetesEgressDeny...) {
		if err := ValidateKubernetesEgressCIDR(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for in, want := range map[string]string{"10.0.0.1/8": "host bits set; write 10.0.0.0/8", "0.0.0.0/0": "would deny every address", "metadata": "is not a CIDR"} {
		if err := ValidateKubernetesEgressCIDR(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", in, err, want)
		}
	}
}
