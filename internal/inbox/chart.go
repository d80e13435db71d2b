package inbox

import (
	"fmt"
	"html/template"
	"strings"
	"time"
)

// PainChart draws the client's pain scores (0-10) over the days as a
// small SVG, on the server: no script, and it prints. Only numbers go
// into it, so it is safe as HTML.
func PainChart(scores []Score, loc *time.Location) template.HTML {
	if len(scores) == 0 {
		return template.HTML(`<p class="muted">No pain scores yet.</p>`)
	}
	const w, h, left, top, right, bottom = 320.0, 140.0, 28.0, 10.0, 10.0, 24.0
	first, last := scores[0].At, scores[len(scores)-1].At
	span := last.Sub(first)
	if span < 24*time.Hour {
		span = 24 * time.Hour
	}
	x := func(t time.Time) float64 { return left + float64(t.Sub(first))/float64(span)*(w-left-right) }
	y := func(v int) float64 { return top + float64(10-v)/10*(h-top-bottom) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-label="Pain scores over time, 0 to 10">`, w, h)
	for _, v := range []int{0, 5, 10} {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/><text x="4" y="%.1f" font-size="10" fill="#666">%d</text>`,
			left, y(v), w-right, y(v), y(v)+3, v)
	}
	var pts []string
	for _, s := range scores {
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(s.At), y(s.Value)))
	}
	fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="#1f6feb" stroke-width="2"/>`, strings.Join(pts, " "))
	for _, s := range scores {
		colour := "#1f6feb"
		if s.Value >= 7 {
			colour = "#c62828"
		}
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s"><title>%d on %s</title></circle>`,
			x(s.At), y(s.Value), colour, s.Value, s.At.In(loc).Format("Mon 2 Jan 15:04"))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="10" fill="#666">%s</text>`, left, h-6, first.In(loc).Format("2 Jan"))
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="10" fill="#666" text-anchor="end">%s</text>`, w-right, h-6, first.Add(span).In(loc).Format("2 Jan"))
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // numbers and dates only
}
