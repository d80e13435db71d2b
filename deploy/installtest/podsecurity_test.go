package installtest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// restricted reports why a pod would be refused in a namespace labelled
// pod-security.kubernetes.io/enforce=restricted, by the admission
// controller's own evaluator at the latest policy version.
func restricted(t *testing.T, meta metav1.ObjectMeta, spec corev1.PodSpec) []string {
	t.Helper()
	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var why []string
	for _, r := range eval.EvaluatePod(psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}, &meta, &spec) {
		if !r.Allowed {
			why = append(why, r.ForbiddenReason+": "+r.ForbiddenDetail)
		}
	}
	return why
}

func TestPodSecurityRestricted(t *testing.T) {
	for _, values := range []string{"../nats/values-dev.yaml", "../nats/values-prod.yaml"} {
		t.Run("nats "+filepath.Base(values), func(t *testing.T) {
			ss := statefulSet(t, render(t, values))
			for _, why := range restricted(t, ss.Spec.Template.ObjectMeta, ss.Spec.Template.Spec) {
				t.Errorf("StatefulSet %s: %s", ss.Name, why)
			}
		})
	}
	for _, overlay := range []string{"dev", "prod"} {
		t.Run("aftercare "+overlay, func(t *testing.T) {
			o := buildOverlay(t, "../k8s/overlays/"+overlay)
			if len(o.deployments) != 2 {
				t.Fatalf("%d Deployments, want scheduler and worker", len(o.deployments))
			}
			for name, d := range o.deployments {
				for _, why := range restricted(t, d.Spec.Template.ObjectMeta, d.Spec.Template.Spec) {
					t.Errorf("Deployment %s: %s", name, why)
				}
			}
		})
	}
}

// The values file carries more than Pod Security asks; check the settings
// the issue named: the store limit below the volume, GOMEMLIMIT, the
// image of the nats-server the tests run, and the exporter's PodMonitor.
func TestValuesAnOpsTeamCanInstall(t *testing.T) {
	for _, values := range []string{"../nats/values-dev.yaml", "../nats/values-prod.yaml"} {
		t.Run(filepath.Base(values), func(t *testing.T) {
			r := render(t, values)
			ss := statefulSet(t, r)
			var nats *corev1.Container
			for i, c := range ss.Spec.Template.Spec.Containers {
				if c.Name == "nats" {
					nats = &ss.Spec.Template.Spec.Containers[i]
				}
			}
			if nats == nil {
				t.Fatal("no nats container")
			}
			if want := "nats:" + serverVersion() + "-alpine"; nats.Image != want {
				t.Errorf("image %s, want %s (the nats-server the tests run)", nats.Image, want)
			}
			hasLimit := false
			for _, e := range nats.Env {
				hasLimit = hasLimit || (e.Name == "GOMEMLIMIT" && e.Value != "")
			}
			if !hasLimit {
				t.Error("no GOMEMLIMIT")
			}
			opts := parseConf(t, r)
			volume := ss.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage]
			if max := opts.JetStreamMaxStore; max <= 0 || float64(max) > 0.8*float64(volume.Value()) {
				t.Errorf("max_file_store %d leaves under 20%% of the %s volume free", max, volume.String())
			}
			r.object(t, "PodMonitor")
			// The config reloader must watch the included users file, so a
			// new clinic's user is taken without a restart.
			if strings.Contains(r.natsConf, "include ") {
				for _, c := range ss.Spec.Template.Spec.Containers {
					if c.Name == "reloader" && !slices.Contains(c.Args, "/etc/nats-auth/auth.conf") {
						t.Errorf("the reloader does not watch /etc/nats-auth/auth.conf: %v", c.Args)
					}
				}
			}
		})
	}
}

// The cluster booted here must run the nats-server the service's own tests
// run (its go.mod), which is the image the values pin.
func TestSameServerAsTheService(t *testing.T) {
	raw, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	want := "github.com/nats-io/nats-server/v2 v" + serverVersion()
	if !strings.Contains(string(raw), want) {
		t.Errorf("the service's go.mod does not require %s: keep deploy/installtest/go.mod, the values' image tags and go.mod in step", want)
	}
}
