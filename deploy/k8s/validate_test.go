// Package k8s holds the Kubernetes manifests; its test builds every overlay
// offline (sigs.k8s.io/kustomize/api, the library kubectl kustomize uses),
// decodes every object strictly into the upstream k8s.io/api types, and
// checks the project's own rules for what may run in production.
package k8s

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// object is one decoded manifest.
type object struct {
	apiVersion, kind, name string
	typed                  any
}

// known maps each kind we ship to its upstream type and API version.
var known = map[string]struct {
	apiVersion string
	newObj     func() any
}{
	"Deployment":              {"apps/v1", func() any { return &appsv1.Deployment{} }},
	"Service":                 {"v1", func() any { return &corev1.Service{} }},
	"ServiceAccount":          {"v1", func() any { return &corev1.ServiceAccount{} }},
	"ConfigMap":               {"v1", func() any { return &corev1.ConfigMap{} }},
	"Secret":                  {"v1", func() any { return &corev1.Secret{} }},
	"Ingress":                 {"networking.k8s.io/v1", func() any { return &networkingv1.Ingress{} }},
	"NetworkPolicy":           {"networking.k8s.io/v1", func() any { return &networkingv1.NetworkPolicy{} }},
	"PodDisruptionBudget":     {"policy/v1", func() any { return &policyv1.PodDisruptionBudget{} }},
	"HorizontalPodAutoscaler": {"autoscaling/v2", func() any { return &autoscalingv2.HorizontalPodAutoscaler{} }},
}

// decode strictly decodes one YAML object: an unknown field (a typo, or a
// field of another API version) is an error, as the API server would say.
func decode(doc []byte) (object, error) {
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return object{}, err
	}
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(js, &head); err != nil {
		return object{}, err
	}
	k, ok := known[head.Kind]
	if !ok {
		return object{}, fmt.Errorf("%s %s: kind not validated by this test", head.Kind, head.Metadata.Name)
	}
	if head.APIVersion != k.apiVersion {
		return object{}, fmt.Errorf("%s %s: apiVersion %s, want %s", head.Kind, head.Metadata.Name, head.APIVersion, k.apiVersion)
	}
	typed := k.newObj()
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(typed); err != nil {
		return object{}, fmt.Errorf("%s %s: %w", head.Kind, head.Metadata.Name, err)
	}
	return object{apiVersion: head.APIVersion, kind: head.Kind, name: head.Metadata.Name, typed: typed}, nil
}

func build(t *testing.T, dir string) []object {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var objs []object
	for _, r := range res.Resources() {
		doc, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		o, err := decode(doc)
		if err != nil {
			t.Errorf("%s: %v", dir, err)
			continue
		}
		objs = append(objs, o)
	}
	return objs
}

func TestOverlaysBuildAndFollowPolicy(t *testing.T) {
	overlays, err := filepath.Glob("overlays/*")
	if err != nil || len(overlays) < 2 {
		t.Fatalf("want dev and prod overlays, found %v (%v)", overlays, err)
	}
	for _, dir := range overlays {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			objs := build(t, dir)
			for _, p := range policyProblems(objs) {
				t.Error(p)
			}
			t.Logf("%d objects built and checked", len(objs))
		})
	}
}

// The policy check itself must catch what it is meant to catch.
func TestPolicyCatchesViolations(t *testing.T) {
	bad := `
apiVersion: apps/v1
kind: Deployment
metadata: {name: bad}
spec:
  replicas: 2
  selector: {matchLabels: {app: bad}}
  template:
    metadata: {labels: {app: bad}}
    spec:
      containers:
        - name: app
          image: ghcr.io/aftercare/aftercare:latest
          env:
            - {name: TWILIO_AUTH_TOKEN, value: abc123}
          securityContext: {privileged: true}
`
	o, err := decode([]byte(bad))
	if err != nil {
		t.Fatal(err)
	}
	hpa, err := decode([]byte("apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: bad}\n" +
		"spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: bad}, maxReplicas: 4}\n"))
	if err != nil {
		t.Fatal(err)
	}
	problems := strings.Join(policyProblems([]object{o, hpa}), "\n")
	for _, want := range []string{"HorizontalPodAutoscaler bad owns the count", ":latest", "readiness probe", "liveness probe", "limits", "non-root", "read-only root", "privilege escalation",
		"capabilities", "seccomp", "inlined", "PodDisruptionBudget", "NetworkPolicy", "topology spread"} {
		if !strings.Contains(problems, want) {
			t.Errorf("policy did not flag %q; it said:\n%s", want, problems)
		}
	}
	if _, err := decode([]byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replica: 2}\n")); err == nil {
		t.Error("a misspelt field (replica) decoded without error")
	}
	if _, err := decode([]byte("apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata: {name: x}\n")); err == nil {
		t.Error("a removed API version decoded without error")
	}
}

var secretName = regexp.MustCompile(`(?i)(TOKEN|SECRET|PASSWORD|AUTH|KEY|CREDS?)$`)

// policyProblems checks what the project asks of every workload.
func policyProblems(objs []object) []string {
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	var pdbs []*policyv1.PodDisruptionBudget
	hasNetworkPolicy := false
	for _, o := range objs {
		switch v := o.typed.(type) {
		case *policyv1.PodDisruptionBudget:
			pdbs = append(pdbs, v)
		case *networkingv1.NetworkPolicy:
			hasNetworkPolicy = hasNetworkPolicy || slices.Contains(v.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
		case *corev1.Secret:
			fail("Secret %s is in the build: secrets are created out of band, never committed", o.name)
		case *corev1.ConfigMap:
			for key, value := range v.Data {
				if secretName.MatchString(key) && value != "" && !strings.HasPrefix(key, "NATS_CREDS") && !strings.HasPrefix(key, "NATS_TLS") {
					fail("ConfigMap %s: %s looks like a secret inlined in plain config", o.name, key)
				}
			}
		}
	}
	if !hasNetworkPolicy {
		fail("no NetworkPolicy limits egress")
	}
	// A Deployment an HPA scales must not say how many replicas it wants:
	// every apply would reset the HPA's count.
	for _, o := range objs {
		if h, ok := o.typed.(*autoscalingv2.HorizontalPodAutoscaler); ok {
			for _, d := range objs {
				if dep, ok := d.typed.(*appsv1.Deployment); ok && dep.Name == h.Spec.ScaleTargetRef.Name && dep.Spec.Replicas != nil {
					fail("Deployment %s: replicas is set but HorizontalPodAutoscaler %s owns the count", dep.Name, h.Name)
				}
			}
		}
	}
	for _, o := range objs {
		d, ok := o.typed.(*appsv1.Deployment)
		if !ok {
			continue
		}
		spec := d.Spec.Template.Spec
		if !slices.ContainsFunc(pdbs, func(p *policyv1.PodDisruptionBudget) bool {
			return p.Spec.Selector != nil && matches(p.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
		}) {
			fail("Deployment %s: no PodDisruptionBudget selects it", d.Name)
		}
		if len(spec.TopologySpreadConstraints) == 0 {
			fail("Deployment %s: no topology spread constraints", d.Name)
		}
		podSC := spec.SecurityContext
		if podSC == nil {
			podSC = &corev1.PodSecurityContext{}
		}
		for _, c := range spec.Containers {
			where := fmt.Sprintf("Deployment %s container %s", d.Name, c.Name)
			if tag := imageTag(c.Image); tag == "" || tag == "latest" {
				fail("%s: image %q must be pinned, not :latest or untagged", where, c.Image)
			}
			if c.ReadinessProbe == nil {
				fail("%s: no readiness probe", where)
			}
			if c.LivenessProbe == nil {
				fail("%s: no liveness probe", where)
			}
			if c.Resources.Limits.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Memory().IsZero() {
				fail("%s: cpu and memory limits and a memory request are required", where)
			}
			sc := c.SecurityContext
			if sc == nil {
				sc = &corev1.SecurityContext{}
			}
			if !isTrue(sc.RunAsNonRoot) && !isTrue(podSC.RunAsNonRoot) {
				fail("%s: must run as non-root (runAsNonRoot)", where)
			}
			if !isTrue(sc.ReadOnlyRootFilesystem) {
				fail("%s: needs a read-only root filesystem", where)
			}
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || isTrue(sc.Privileged) {
				fail("%s: privilege escalation must be off and the container unprivileged", where)
			}
			if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
				fail("%s: all capabilities must be dropped", where)
			}
			seccomp := sc.SeccompProfile
			if seccomp == nil {
				seccomp = podSC.SeccompProfile
			}
			if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
				fail("%s: seccomp profile must be RuntimeDefault", where)
			}
			for _, e := range c.Env {
				if secretName.MatchString(e.Name) && e.Value != "" {
					fail("%s: %s is a secret inlined in the manifest; use a secretKeyRef or envFrom a Secret", where, e.Name)
				}
			}
		}
	}
	return problems
}

func imageTag(image string) string {
	if _, digest, ok := strings.Cut(image, "@"); ok {
		return digest
	}
	slash := strings.LastIndex(image, "/")
	if colon := strings.LastIndex(image, ":"); colon > slash {
		return image[colon+1:]
	}
	return ""
}

func matches(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return len(selector) > 0
}

func isTrue(b *bool) bool { return b != nil && *b }

// The Secret template must stay a template: every value a placeholder.
func TestSecretTemplateHoldsNoSecrets(t *testing.T) {
	raw, err := os.ReadFile("base/secret.template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	o, err := decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	s := o.typed.(*corev1.Secret)
	if len(s.Data) > 0 || len(s.StringData) == 0 {
		t.Fatalf("template: data %d keys, stringData %d keys", len(s.Data), len(s.StringData))
	}
	for k, v := range s.StringData {
		if !strings.HasPrefix(v, "<") || !strings.HasSuffix(v, ">") {
			t.Errorf("secret.template.yaml: %s holds %q, not a <placeholder>", k, v)
		}
	}
	kust, _ := os.ReadFile("base/kustomization.yaml")
	if bytes.Contains(kust, []byte("secret.template.yaml")) {
		t.Error("the Secret template must not be a kustomize resource")
	}
}
