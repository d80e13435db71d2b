package installtest

import (
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
	"sigs.k8s.io/yaml"
)

// TestReleaseWorkflow lints the release workflow with actionlint (offline:
// its own checks, no shellcheck) and checks that the image tag and the
// version built into the programs are the same step output.
func TestReleaseWorkflow(t *testing.T) {
	const path = "../../.github/workflows/release.yml"
	linter, err := actionlint.NewLinter(io.Discard, &actionlint.LinterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	errs, err := linter.LintFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		t.Errorf("actionlint: %s:%d:%d: %s [%s]", path, e.Line, e.Column, e.Message, e.Kind)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		Jobs map[string]struct {
			Steps []struct {
				Uses string            `json:"uses"`
				With map[string]string `json:"with"`
			} `json:"steps"`
		} `json:"jobs"`
	}
	if err := yaml.Unmarshal(raw, &wf); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, job := range wf.Jobs {
		for _, s := range job.Steps {
			if !strings.HasPrefix(s.Uses, "docker/build-push-action@") {
				continue
			}
			found = true
			arg, ok := strings.CutPrefix(s.With["build-args"], "VERSION=")
			if !ok || arg == "" || !strings.HasSuffix(s.With["tags"], ":"+arg) {
				t.Errorf("image tags %q and build-args %q: the tag must be the VERSION built in", s.With["tags"], s.With["build-args"])
			}
		}
	}
	if !found {
		t.Error("no docker/build-push-action step")
	}
}

// versionFlag is how the Dockerfile builds VERSION into the programs; the
// install test builds them the same way and reads it back from /metrics.
func versionFlag(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`-X (\S+)=\$\{VERSION\}`).FindSubmatch(raw)
	if m == nil {
		t.Fatal("the Dockerfile builds no ${VERSION} into the programs (-X ...=${VERSION})")
	}
	return string(m[1])
}
