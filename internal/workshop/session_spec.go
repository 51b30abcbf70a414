package workshop

import (
	"errors"
	"fmt"
)

// EffectiveResources are the spec's resources over its template's and the defaults of
// the infrastructure type infra.
func (s *SessionSpec) EffectiveResources(infra InfrastructureType) Resources {
	r := s.Resources
	if s.Template != nil {
		r = r.Over(s.Template.Resources)
	}
	return r.Over(DefaultResources(infra))
}

// CheckSessionSpec checks what a backend's CreateSession needs (an ID, an applied
// template of the backend's infrastructure type infra) and parses the effective
// resources. The errors name the session: they reach the instructor as they are.
func CheckSessionSpec(spec *SessionSpec, infra InfrastructureType) (ParsedResources, error) {
	if spec == nil {
		return ParsedResources{}, errors.New("create session: no spec given")
	}
	if err := ValidateSessionID(spec.ID); err != nil {
		return ParsedResources{}, fmt.Errorf("create session: %w", err)
	}
	if spec.Template == nil || spec.Template.ID == "" {
		return ParsedResources{}, fmt.Errorf("create session %s: the template is not applied (no template ID)", spec.ID)
	}
	if spec.Template.Infrastructure != infra {
		return ParsedResources{}, fmt.Errorf("create session %s: template %s is a %q template, not a %s one",
			spec.ID, spec.Template.ID, spec.Template.Infrastructure, infra)
	}
	res, err := spec.EffectiveResources(infra).Parse()
	if err != nil {
		return res, fmt.Errorf("create session %s: resources: %w", spec.ID, err)
	}
	return res, nil
}
