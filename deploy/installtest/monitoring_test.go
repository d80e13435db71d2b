package installtest

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"
)

// exporterMetrics are the chart's prometheus-nats-exporter series the
// rules and dashboard may name. The exporter is not run here: the names
// are from its documentation (JetStream collector, namespace replaced by
// the chart's -prefix=nats), with "up" from Prometheus itself.
var exporterMetrics = []string{"nats_server_total_message_bytes", "nats_server_max_storage"}

var promql = parser.NewParser(parser.Options{})

// query is one PromQL expression the monitoring ships, and where.
type query struct {
	where, expr, summary string
	alert                bool
}

func shippedQueries(t *testing.T) []query {
	t.Helper()
	groups, errs := rulefmt.ParseFile("../monitoring/alerts.yaml", false, model.UTF8Validation, promql, slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		t.Fatalf("alerts.yaml: %v", errs)
	}
	var out []query
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			out = append(out, query{where: "alert " + r.Alert, expr: r.Expr, summary: r.Annotations["summary"], alert: true})
		}
	}
	raw, err := os.ReadFile("../monitoring/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name string `json:"name"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(dash.Templating.List, func(v struct {
		Name string `json:"name"`
	}) bool {
		return v.Name == "namespace"
	}) {
		t.Error("dashboard: no namespace variable")
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			out = append(out, query{where: "panel " + p.Title, expr: tg.Expr})
		}
	}
	return out
}

// selectors walks an expression's vector selectors.
func selectors(t *testing.T, q query) (parser.Expr, []*parser.VectorSelector) {
	t.Helper()
	expr, err := promql.ParseExpr(q.expr)
	if err != nil {
		t.Fatalf("%s: %v", q.where, err)
	}
	var out []*parser.VectorSelector
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			out = append(out, vs)
		}
		return nil
	})
	return expr, out
}

// jobs are the job labels the shipped scrape objects give: our PodMonitor's
// and the chart's, each jobLabel read off the pods they select.
func jobs(t *testing.T) []string {
	t.Helper()
	var pm struct {
		Spec struct {
			JobLabel string `json:"jobLabel"`
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
		} `json:"spec"`
	}
	raw, err := os.ReadFile("../monitoring/podmonitor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &pm); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range buildOverlay(t, "../k8s/overlays/prod").deployments {
		podLabels := d.Spec.Template.Labels
		if matchesAll(pm.Spec.Selector.MatchLabels, podLabels) && podLabels[pm.Spec.JobLabel] != "" {
			out = append(out, podLabels[pm.Spec.JobLabel])
		}
	}
	r := render(t, "../nats/values-prod.yaml")
	chartPM := r.object(t, "PodMonitor")
	spec, _ := chartPM["spec"].(map[string]any)
	jobLabel, _ := spec["jobLabel"].(string)
	if job := statefulSet(t, r).Spec.Template.Labels[jobLabel]; jobLabel != "" && job != "" {
		out = append(out, job)
	}
	sort.Strings(out)
	return out
}

func matchesAll(want, have map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return len(want) > 0
}

// TestMonitoringRules parses the alert rules and the dashboard with
// Prometheus' own parsers and checks what can be checked without a scrape:
// every job they name is one a shipped PodMonitor gives, and alerts and
// panels keep the namespace.
func TestMonitoringRules(t *testing.T) {
	known := jobs(t)
	for _, want := range []string{"aftercare-scheduler", "aftercare-worker", "nats"} {
		if !slices.Contains(known, want) {
			t.Errorf("no shipped scrape object gives job %q (have %v)", want, known)
		}
	}
	for _, q := range shippedQueries(t) {
		expr, sels := selectors(t, q)
		for _, vs := range sels {
			for _, m := range vs.LabelMatchers {
				if m.Name == "job" && !slices.ContainsFunc(known, m.Matches) {
					t.Errorf("%s: job matcher %s matches no shipped scrape job %v", q.where, m, known)
				}
			}
			if !q.alert && strings.HasPrefix(vs.Name, "aftercare_") && !hasMatcher(vs.LabelMatchers, "namespace") {
				t.Errorf("%s: %s is not filtered by the namespace variable", q.where, vs.Name)
			}
		}
		if !q.alert || strings.Contains(q.expr, "absent(") {
			continue
		}
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			if agg, ok := n.(*parser.AggregateExpr); ok && !agg.Without && !slices.Contains(agg.Grouping, "namespace") {
				t.Errorf("%s: %s drops the namespace", q.where, agg)
			}
			return nil
		})
		if !strings.Contains(q.summary, "$labels.namespace") {
			t.Errorf("%s: the summary does not name the namespace", q.where)
		}
	}
}

func hasMatcher(ms []*labels.Matcher, name string) bool {
	return slices.ContainsFunc(ms, func(m *labels.Matcher) bool { return m.Name == name })
}

// checkMetricsExist scrapes both running programs and checks that every
// metric the rules and dashboard name is there (the exporter's against
// exporterMetrics). Called by TestRenderedInstall once texts have gone out.
func checkMetricsExist(t *testing.T, addrs ...string) {
	t.Helper()
	have := map[string]bool{"up": true}
	for _, m := range exporterMetrics {
		have[m] = true
	}
	for _, addr := range addrs {
		res, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for name := range scrapedNames(strings.NewReader(string(body))) {
			have[name] = true
		}
		if !strings.Contains(string(body), `version="`+releaseVersion+`"`) {
			t.Errorf("%s: aftercare_build_info does not report the version built in (%s)", addr, releaseVersion)
		}
	}
	for _, q := range shippedQueries(t) {
		_, sels := selectors(t, q)
		for _, vs := range sels {
			if !have[vs.Name] {
				t.Errorf("%s names %s, which neither program's /metrics has", q.where, vs.Name)
			}
		}
	}
}

// scrapedNames are the series names of a Prometheus text exposition.
func scrapedNames(r io.Reader) map[string]bool {
	names := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names
}
