package manifest

import (
	"errors"
	"fmt"
	"strings"
)

// clusterScopedKinds are kinds a namespace-isolated session may not create.
var clusterScopedKinds = map[string]bool{
	"Namespace": true, "Node": true, "PersistentVolume": true, "StorageClass": true,
	"PriorityClass": true, "ClusterRole": true, "ClusterRoleBinding": true,
	"CustomResourceDefinition": true, "APIService": true,
	"ValidatingWebhookConfiguration": true, "MutatingWebhookConfiguration": true,
	"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true,
	"MutatingAdmissionPolicy": true, "MutatingAdmissionPolicyBinding": true,
	"CSIDriver": true, "CSINode": true, "VolumeAttachment": true, "RuntimeClass": true,
	"IngressClass": true, "CertificateSigningRequest": true, "FlowSchema": true,
	"PriorityLevelConfiguration": true, "ComponentStatus": true, "DeviceClass": true,
	"ResourceSlice": true, "IPAddress": true, "ServiceCIDR": true,
	"ClusterTrustBundle": true, "StorageVersion": true, "VolumeAttributesClass": true,
}

// ClusterScoped reports whether kind is a built-in cluster-scoped kind, which a
// namespace-isolated session may not create.
func ClusterScoped(kind string) bool { return clusterScopedKinds[kind] }

// ValidateNamespaced checks a namespace-isolated template's manifests without a
// cluster: every document parses and names apiVersion, kind and metadata.name; none is
// cluster-scoped or names another namespace. Errors name the document.
func ValidateNamespaced(content string) error {
	if strings.TrimSpace(content) == "" {
		return nil
	}
	objs, err := Parse(content)
	if err != nil {
		return err
	}
	var errs []error
	for i, o := range objs {
		doc := fmt.Sprintf("document %d (%s %s)", i+1, o.Kind, o.Name)
		if strings.HasSuffix(o.Kind, "List") {
			errs = append(errs, fmt.Errorf("%s: lists are not supported; give one object per document", doc))
			continue
		}
		if clusterScopedKinds[o.Kind] {
			errs = append(errs, fmt.Errorf("%s: %s is cluster-scoped, which namespace isolation does not allow (use isolation = \"vcluster\")", doc, o.Kind))
		}
		if o.Namespace != "" {
			errs = append(errs, fmt.Errorf("%s: metadata.namespace must not be set; objects go into the session's namespace", doc))
		}
	}
	return errors.Join(errs...)
}
