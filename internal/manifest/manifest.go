// Package manifest validates multi-document Kubernetes YAML (the `yaml` type of
// nalabo_apply, a template's manifests) without a cluster: every document must parse
// and name its apiVersion and kind. Errors name the document and its line.
package manifest

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong with a document (Doc counts from 1; Line is its first
// line in the whole file, 0 when unknown).
type Problem struct {
	Doc  int
	Line int
	Msg  string
}

func (p *Problem) Error() string {
	if p.Line > 0 {
		return fmt.Sprintf("document %d (line %d): %s", p.Doc, p.Line, p.Msg)
	}
	return fmt.Sprintf("document %d: %s", p.Doc, p.Msg)
}

// Object identifies one document.
type Object struct {
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
}

// Parse checks every document and returns the objects they describe. Empty documents
// are skipped; a file without any object is an error.
func Parse(content string) ([]Object, error) {
	dec := yaml.NewDecoder(strings.NewReader(content))
	var out []Object
	var errs []error
	for doc := 1; ; doc++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, &Problem{Doc: doc, Msg: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")})
			break // the decoder cannot resynchronise
		}
		if len(n.Content) == 0 || (n.Content[0].Kind == yaml.ScalarNode && n.Content[0].Tag == "!!null") {
			continue
		}
		root := n.Content[0]
		if root.Kind != yaml.MappingNode {
			errs = append(errs, &Problem{Doc: doc, Line: root.Line, Msg: "is not a mapping (a Kubernetes object has apiVersion, kind and metadata)"})
			continue
		}
		o := Object{}
		var meta *yaml.Node
		for i := 0; i+1 < len(root.Content); i += 2 {
			k, v := root.Content[i].Value, root.Content[i+1]
			switch k {
			case "apiVersion":
				o.APIVersion = scalar(v)
			case "kind":
				o.Kind = scalar(v)
			case "metadata":
				meta = v
			}
		}
		if meta != nil && meta.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(meta.Content); i += 2 {
				switch meta.Content[i].Value {
				case "name":
					o.Name = scalar(meta.Content[i+1])
				case "namespace":
					o.Namespace = scalar(meta.Content[i+1])
				}
			}
		}
		var missing []string
		if o.APIVersion == "" {
			missing = append(missing, "apiVersion")
		}
		if o.Kind == "" {
			missing = append(missing, "kind")
		}
		if len(missing) > 0 {
			errs = append(errs, &Problem{Doc: doc, Line: root.Line, Msg: "has no " + strings.Join(missing, " and ")})
			continue
		}
		if o.Name == "" && !strings.HasSuffix(o.Kind, "List") {
			errs = append(errs, &Problem{Doc: doc, Line: root.Line, Msg: fmt.Sprintf("%s has no metadata.name", o.Kind)})
			continue
		}
		out = append(out, o)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(out) == 0 {
		return nil, errors.New("no Kubernetes object in the YAML (every document is empty)")
	}
	return out, nil
}

func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return strings.TrimSpace(n.Value)
}
