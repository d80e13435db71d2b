package installtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"sigs.k8s.io/yaml"
)

// ChartVersion is the official NATS chart the values are written for and
// the docs name; the test refuses another.
const ChartVersion = "2.14.2"

// chartDir finds the chart named by NATS_CHART_DIR (.ci/run sets it to
// ../shared/charts/nats). In CI a missing chart fails the run; elsewhere
// the test skips and says how to fetch it.
func chartDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("NATS_CHART_DIR")
	if dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "Chart.yaml")); err == nil {
			return dir
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("NATS_CHART_DIR=%q holds no Chart.yaml: CI renders the official chart (../shared/charts/nats)", dir)
	}
	t.Skipf("NATS_CHART_DIR=%q holds no chart; get it with\n  helm pull nats --repo https://nats-io.github.io/k8s/helm/charts/ --version %s --untar --untardir /tmp/charts\nand set NATS_CHART_DIR=/tmp/charts/nats", dir, ChartVersion)
	return ""
}

// rendered is one values file's chart output, by kind and name.
type rendered struct {
	objects  []map[string]any
	natsConf string // the ConfigMap's nats.conf
}

// render runs Helm's own loader and template engine (no cluster) on the
// chart with a values file, as `helm template nats -n nats -f values` does.
func render(t *testing.T, valuesFile string) rendered {
	t.Helper()
	chart, err := loader.Load(chartDir(t))
	if err != nil {
		t.Fatal(err)
	}
	if chart.Metadata.Version != ChartVersion {
		t.Fatalf("chart version %s, the values and docs are for %s", chart.Metadata.Version, ChartVersion)
	}
	vals, err := chartutil.ReadValuesFile(valuesFile)
	if err != nil {
		t.Fatal(err)
	}
	top, err := chartutil.ToRenderValues(chart, vals, chartutil.ReleaseOptions{Name: "nats", Namespace: "nats", IsInstall: true, Revision: 1},
		chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	files, err := engine.Render(chart, top)
	if err != nil {
		t.Fatalf("render %s: %v", valuesFile, err)
	}
	var r rendered
	for name, text := range files {
		if strings.Contains(name, "/tests/") || !strings.HasSuffix(name, ".yaml") {
			continue
		}
		for _, doc := range strings.Split(text, "\n---") {
			var obj map[string]any
			if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if len(obj) == 0 {
				continue
			}
			r.objects = append(r.objects, obj)
			if obj["kind"] == "ConfigMap" {
				data, _ := obj["data"].(map[string]any)
				r.natsConf, _ = data["nats.conf"].(string)
			}
		}
	}
	if r.natsConf == "" {
		t.Fatalf("%s: no nats.conf rendered", valuesFile)
	}
	return r
}

// object finds a rendered object by kind, or fails.
func (r rendered) object(t *testing.T, kind string) map[string]any {
	t.Helper()
	for _, o := range r.objects {
		if o["kind"] == kind {
			return o
		}
	}
	t.Fatalf("no %s rendered", kind)
	return nil
}
